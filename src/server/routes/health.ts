/** Liveness, readiness (the database answers) and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';
import { jsonResponse, problem, responses } from '../schemas.js';

const status = (value: string) =>
  ({
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: [value] } },
  }) as const;

/** The sync runs twice a second: three failures in a row is a broken store, not a blip. */
const FAILURES_BEFORE_NOT_READY = 3;
/** How long /readyz waits for the database to answer its ping before calling the instance not ready. */
const PING_TIMEOUT_MS = 2000;

export function registerHealthRoutes(app: FastifyInstance, runtime: Runtime): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness',
        description: 'The process answers. It checks nothing else: /readyz does.',
        response: responses({ 200: jsonResponse('Alive.', status('ok')) }),
      },
    },
    async () => ({ status: 'ok' }),
  );

  const readiness = {
    tags: ['operations'],
    summary: 'Readiness',
    description:
      'Whether this instance should get traffic: the database answers, the background work that keeps ' +
      'its keys and revocations current is not failing, and it has a signing key.',
    response: responses({
      200: jsonResponse('Ready.', status('ready')),
      503: problem(
        '`unavailable`: the database does not answer, background work has failed three times in a row, ' +
          'there is no signing key, or the instance is shutting down; the message says which.',
        ['unavailable'],
      ),
    }),
  };

  app.get('/readyz', { schema: readiness }, async (request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      // A database that hangs (no answer, no refusal) must not hang the probe: a load balancer waiting on
      // it learns nothing, and takes it for a live instance.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)),
          PING_TIMEOUT_MS,
        );
      });
      await Promise.race([runtime.store.ping(), late]);
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      reply.code(503);
      return { error: 'unavailable', message: 'the database is not reachable' };
    } finally {
      clearTimeout(timer);
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

  const metrics = {
    tags: ['operations'],
    summary: 'Prometheus metrics',
    description: 'Request latency, logins, refreshes and more, in the Prometheus text format.',
    response: responses({
      200: {
        description: 'The metrics.',
        content: { [runtime.metrics.registry.contentType]: { schema: { type: 'string' } } },
      },
    }),
  };

  app.get('/metrics', { schema: metrics }, async (_request, reply) => {
    reply.header('content-type', runtime.metrics.registry.contentType);
    return runtime.metrics.text();
  });
}
