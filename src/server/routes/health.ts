/** Liveness, readiness (the database answers) and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';

export function registerHealthRoutes(app: FastifyInstance, runtime: Runtime): void {
  app.get('/healthz', { schema: { tags: ['operations'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['operations'] } }, async (request, reply) => {
    try {
      await runtime.store.ping();
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      reply.code(503);
      return { error: 'unavailable', message: 'the database is not reachable' };
    }
  });

  app.get('/metrics', { schema: { tags: ['operations'] } }, async (_request, reply) => {
    reply.header('content-type', runtime.metrics.registry.contentType);
    return runtime.metrics.registry.metrics();
  });
}
