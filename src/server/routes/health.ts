/** Liveness, readiness (the database answers) and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';

/** The sync runs twice a second: three failures in a row is a broken store, not a blip. */
const FAILURES_BEFORE_NOT_READY = 3;

export function registerHealthRoutes(app: FastifyInstance, runtime: Runtime): void {
  app.get('/healthz', { schema: { tags: ['operations'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['operations'] } }, async (request, reply) => {
    try {
      await runtime.store.ping();
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      reply.code(503);
      return { error: 'unavailable', message: 'the database is not reachable' };
    }
    // The database answers pings, but the work that keeps this instance right keeps failing (the
    // revocation and key sync would leave it trusting what others revoked): take it out of rotation.
    const failing = runtime
      .failingBackgroundWork()
      .filter((work) => work.consecutiveFailures >= FAILURES_BEFORE_NOT_READY);
    if (failing.length > 0 || !runtime.keys.hasSigningKey) {
      reply.code(503);
      const what = failing.map((work) => `${work.task} (${work.consecutiveFailures} times in a row)`);
      if (!runtime.keys.hasSigningKey) what.push('no signing key');
      return { error: 'unavailable', message: `background work is failing: ${what.join(', ')}` };
    }
    return { status: 'ready' };
  });

  app.get('/metrics', { schema: { tags: ['operations'] } }, async (_request, reply) => {
    reply.header('content-type', runtime.metrics.registry.contentType);
    return runtime.metrics.registry.metrics();
  });
}
