/**
 * What resource servers read to verify tokens locally: the JWKS, the discovery document, and the
 * feed of revoked sessions (so they can refuse a revoked session's access tokens before they expire).
 */
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';

/** Resource servers may cache the key set this long; new keys are published days before they sign. */
const JWKS_MAX_AGE_SECONDS = 300;

export function registerDiscoveryRoutes(app: FastifyInstance, runtime: Runtime): void {
  const { config, keys, store } = runtime;
  const feedUri = `${config.issuer}/.well-known/revoked-sessions`;

  app.get('/.well-known/jwks.json', { schema: { tags: ['discovery'] } }, async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    return keys.verificationKeys.toJWKS();
  });

  app.get(
    '/.well-known/openid-configuration',
    { schema: { tags: ['discovery'] } },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return {
        issuer: config.issuer,
        jwks_uri: `${config.issuer}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: [config.alg],
        access_token_signing_alg_values_supported: [config.alg],
        revocation_feed_uri: feedUri,
        token_endpoint: `${config.issuer}/auth/login`,
        refresh_endpoint: `${config.issuer}/auth/refresh`,
      };
    },
  );

  app.get(
    '/.well-known/revoked-sessions',
    {
      schema: {
        tags: ['discovery'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string', pattern: '^[0-9]{1,15}$' } },
        },
      },
    },
    async (request, reply) => {
      const retentionMs = (config.accessTtlSeconds + config.clockToleranceSeconds) * 1000;
      const now = runtime.now();
      const requested = Number((request.query as { since?: string }).since ?? 0);
      const since = Math.max(requested, now - retentionMs);
      const revoked = await store.listRevokedSessionsSince(since);
      reply.header('cache-control', 'no-store');
      return {
        generated_at: now,
        retention_seconds: retentionMs / 1000,
        sessions: revoked.map(({ id, revokedAt }) => ({ sid: id, revoked_at: revokedAt })),
      };
    },
  );
}
