/**
 * What resource servers read to verify tokens locally: the JWKS, the discovery document, and the
 * feed of revoked sessions and keys (so they can refuse such access tokens before they expire).
 */
import type { FastifyInstance } from 'fastify';
import { RequestError } from '../../errors.js';
import {
  type DiscoveryDocument,
  REVOCATION_FEED_MAX_PAGE,
  type RevocationFeed,
  WELL_KNOWN,
} from '../../protocol.js';
import type { RevokedSession } from '../../store/types.js';
import type { Runtime } from '../runtime.js';
import { jsonResponse, problem, responses } from '../schemas.js';

/** A page's `next`: the last session's revocation time and id, which order the feed. */
const FEED_CURSOR = /^([0-9]{1,15})\.([A-Za-z0-9_-]{1,128})$/;

const invalidRequest = (message: string) => new RequestError('ERR_BAD_REQUEST', message);

const feedCursor = ({ revokedAt, id }: RevokedSession): string => `${revokedAt}.${id}`;

function parseFeedCursor(cursor: string): RevokedSession {
  const [, revokedAt, id] = FEED_CURSOR.exec(cursor) ?? [];
  if (revokedAt === undefined || id === undefined) throw invalidRequest('after is not a `next` of this feed');
  return { revokedAt: Number(revokedAt), id };
}

/** Resource servers may cache the key set this long; new keys are published days before they sign. */
const JWKS_MAX_AGE_SECONDS = 300;

export function registerDiscoveryRoutes(app: FastifyInstance, runtime: Runtime): void {
  const { config, keys, store } = runtime;
  const feedUri = `${config.issuer}${WELL_KNOWN.revocationFeed}`;
  // The key set changes a few times a month; its JSON is made once per change, not per request.
  let jwks = { version: -1, body: '' };
  /**
   * Every algorithm of the keys whose tokens may be valid, not this instance's LATCHKEY_ALG: during a
   * change of algorithm, instances with either setting sign with the new key while the old key's
   * tokens live on, and a resource server reads this list as the algorithms it accepts.
   */
  const algorithms = () => {
    const published = new Set(keys.verificationKeys.keys.map((key) => key.alg));
    return published.size === 0 ? [config.alg] : [...published];
  };

  app.get(
    WELL_KNOWN.jwks,
    {
      schema: {
        tags: ['discovery'],
        summary: 'The public keys that verify access tokens',
        description:
          'The JWK Set (RFC 7517) of every key whose tokens may still be valid: keys are published before ' +
          'they sign, and stay until the last token they signed has expired. Cacheable for ' +
          `${JWKS_MAX_AGE_SECONDS} seconds. Empty with HS256, whose secret is never published.`,
        response: responses({ 200: jsonResponse('The key set.', 'JWKSet') }),
      },
    },
    async (_request, reply) => {
      const { version } = keys.verificationKeys;
      if (jwks.version !== version) jwks = { version, body: JSON.stringify(keys.verificationKeys.toJWKS()) };
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      reply.type('application/json; charset=utf-8');
      return jwks.body;
    },
  );

  app.get(
    WELL_KNOWN.discovery,
    {
      schema: {
        tags: ['discovery'],
        summary: 'Discovery metadata',
        description:
          'Where the keys, the revocation feed and the token endpoints are, and the signing algorithm. ' +
          'Only fields whose meaning is true of Latchkey: it issues no ID tokens and speaks no OAuth grants.',
        response: responses({ 200: jsonResponse('The metadata.', 'DiscoveryDocument') }),
      },
    },
    async (_request, reply): Promise<DiscoveryDocument> => {
      reply.header('cache-control', 'public, max-age=3600');
      const signingAlgorithms = algorithms();
      return {
        issuer: config.issuer,
        jwks_uri: `${config.issuer}${WELL_KNOWN.jwks}`,
        id_token_signing_alg_values_supported: signingAlgorithms,
        access_token_signing_alg_values_supported: signingAlgorithms,
        revocation_feed_uri: feedUri,
        login_endpoint: `${config.issuer}/auth/login`,
        refresh_endpoint: `${config.issuer}/auth/refresh`,
        logout_endpoint: `${config.issuer}/auth/logout`,
      };
    },
  );

  app.get(
    WELL_KNOWN.revocationFeed,
    {
      schema: {
        tags: ['discovery'],
        summary: 'Revoked sessions and keys',
        description:
          'The sessions (`sid`) and signing keys revoked since `since`, reaching back one access-token ' +
          'lifetime plus the clock tolerance: a resource server that polls it refuses their access ' +
          'tokens before they expire. With `limit`, the sessions come a page at a time (every key on ' +
          'each page): a logout of thousands of sessions never makes one answer too large to take.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: {
              type: 'string',
              pattern: '^[0-9]{1,15}$',
              description: 'Milliseconds since the epoch: `generated_at` of the previous answer.',
            },
            limit: {
              type: 'string',
              pattern: '^[0-9]{1,5}$',
              description:
                `At most this many sessions (1 to ${REVOCATION_FEED_MAX_PAGE}); \`next\` says where to go on ` +
                'when more remain. Without it, every session of the window in one answer.',
            },
            after: {
              type: 'string',
              pattern: FEED_CURSOR.source,
              description: '`next` of the previous page: the sessions after it, with the same `since`.',
            },
          },
        },
        response: responses({
          200: jsonResponse('The revocations.', 'RevocationFeed'),
          400: problem(
            '`invalid_request`: `since` is not a number of milliseconds, `limit` is out of range, `after` ' +
              'is not a `next` or comes without `limit`, or another parameter.',
            ['invalid_request'],
          ),
        }),
      },
    },
    async (request, reply): Promise<RevocationFeed> => {
      const retentionMs = (config.accessTtlSeconds + config.clockToleranceSeconds) * 1000;
      const now = runtime.now();
      const query = request.query as { since?: string; limit?: string; after?: string };
      const since = Math.max(Number(query.since ?? 0), now - retentionMs);
      const limit = query.limit === undefined ? null : Number(query.limit);
      if (limit !== null && (limit < 1 || limit > REVOCATION_FEED_MAX_PAGE)) {
        throw invalidRequest(`limit must be 1 to ${REVOCATION_FEED_MAX_PAGE}`);
      }
      if (query.after !== undefined && limit === null) throw invalidRequest('after goes with limit');
      const after = query.after === undefined ? null : parseFeedCursor(query.after);
      // One more than asked for: whether another page follows.
      const listed = await store.listRevokedSessionsSince(
        since,
        limit === null ? undefined : { after, limit: limit + 1 },
      );
      const revoked = limit === null ? listed : listed.slice(0, limit);
      const last = revoked.at(-1);
      reply.header('cache-control', 'no-store');
      return {
        generated_at: now,
        retention_seconds: retentionMs / 1000,
        sessions: revoked.map(({ id, revokedAt }) => ({ sid: id, revoked_at: revokedAt })),
        // Kept in memory and reloaded twice a second, like the keys this instance verifies with.
        keys: keys
          .list()
          .flatMap(({ kid, revokedAt }) =>
            revokedAt !== null && revokedAt >= since ? [{ kid, revoked_at: revokedAt }] : [],
          ),
        ...(listed.length > revoked.length && last !== undefined ? { next: feedCursor(last) } : {}),
      };
    },
  );
}
