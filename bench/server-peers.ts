/**
 * The server benchmark's peers, one per process: reads which one to start from the environment
 * (BENCH_SERVER_PEER, JSON of `PeerConfig`), listens on a free loopback port and prints `{"port":N}`
 * on one line. Both are Fastify 5 as it comes (no logger, no plugins beyond the one named).
 *
 *   fastify                 GET /healthz → {"status":"ok"}, as Latchkey answers; GET
 *                           /.well-known/jwks.json → Latchkey's JWKS, held as a static object
 *   fastify+@fastify/jwt    GET /api/me: @fastify/jwt verifies the Bearer token on every request (ES256,
 *                           Latchkey's key and issuer) and the answer is the token's claims
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { WELL_KNOWN } from '../src/protocol.js';
import { registerFastifyJWT } from './fastify-jwt.js';
import type { AlgMaterial } from './http-issuer.js';

export type PeerConfig =
  | { impl: 'fastify'; jwks: unknown }
  | { impl: 'fastify+@fastify/jwt'; material: AlgMaterial; audience: string };

async function start(config: PeerConfig): Promise<number> {
  const app = Fastify();
  if (config.impl === 'fastify') {
    const { jwks } = config;
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get(WELL_KNOWN.jwks, async () => jwks);
  } else {
    const authenticate = await registerFastifyJWT(app, config.material, config.audience);
    app.get('/api/me', { onRequest: [authenticate] }, async (request) => request.user);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

const config = JSON.parse(process.env.BENCH_SERVER_PEER ?? 'null') as PeerConfig | null;
if (config === null) throw new TypeError('set BENCH_SERVER_PEER to the JSON of a PeerConfig');
const port = await start(config);
process.once('SIGTERM', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ port })}\n`);
