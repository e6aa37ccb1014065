/**
 * One server of the HTTP benchmark per process: reads the variant to start from the environment
 * (BENCH_HTTP_SERVER, JSON of `ServerConfig`), listens on a free loopback port and prints
 * `{"port":N}` on one line. Every variant serves `GET /me`, answering `{"sub": …}` from the verified
 * claims (the ceilings, which verify nothing, answer the same body). Each auth layer is set up the
 * way its documentation (or, for the seed middleware, the tutorials) shows.
 *
 *   BENCH_HTTP_SERVER='{"variant":"fastify",…}' node --import tsx bench/http-servers.ts
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
import { createVerifier, importSecret, KeySet } from '../src/jwt/index.js';
import { ACCESS_TOKEN_TYP, type AccessTokenClaims } from '../src/protocol.js';
import type { TokenVerifier } from '../src/verify/core.js';
import { requireAuth } from '../src/verify/express.js';
import { latchkeyAuth } from '../src/verify/fastify.js';
import { createRemoteVerifier } from '../src/verify/remote-verifier.js';
import { REQUIRED_CLAIMS, registerFastifyJWT } from './fastify-jwt.js';
import { type AlgMaterial, AUDIENCE, SUBJECT } from './http-issuer.js';
import type { Case } from './http-report.js';

export interface ServerConfig extends Case {
  /** Null for the ceilings. */
  material: AlgMaterial | null;
}

/**
 * ES256/EdDSA: the resource-server verifier, from the issuer's discovery document and JWKS. HS256:
 * secrets are never published, so the JWT core's verifier over a KeySet, wrapped as a TokenVerifier.
 */
async function createLatchkeyVerifier(material: AlgMaterial, cache: boolean): Promise<TokenVerifier> {
  if (material.secret !== null) {
    const key = importSecret(Buffer.from(material.secret, 'utf8'), material.alg, { kid: material.kid });
    const verifyJWT = createVerifier({
      key: new KeySet([key]),
      issuer: material.issuer,
      audience: AUDIENCE,
      typ: ACCESS_TOKEN_TYP,
      requiredClaims: REQUIRED_CLAIMS,
      cache,
    });
    return { verify: async (token) => verifyJWT(token).payload as unknown as AccessTokenClaims };
  }
  const verifier = createRemoteVerifier({ issuer: material.issuer, audience: AUDIENCE, cache });
  await verifier.ready();
  return verifier;
}

function requireMaterial(config: ServerConfig): AlgMaterial {
  if (config.material === null) throw new TypeError(`${config.variant} needs key material`);
  return config.material;
}

async function startFastify(config: ServerConfig): Promise<number> {
  const app = Fastify();
  switch (config.variant) {
    case 'fastify':
      app.get('/me', async () => ({ sub: SUBJECT }));
      break;
    case 'fastify+latchkey': {
      const verifier = await createLatchkeyVerifier(requireMaterial(config), config.cache ?? true);
      await app.register(latchkeyAuth, { verifier });
      app.get('/me', { preHandler: app.requireAuth() }, async (request) => ({ sub: request.auth?.sub }));
      break;
    }
    case 'fastify+@fastify/jwt': {
      const authenticate = await registerFastifyJWT(app, requireMaterial(config), AUDIENCE);
      app.get('/me', { onRequest: [authenticate] }, async (request) => ({
        sub: (request.user as { sub?: string }).sub,
      }));
      break;
    }
    default:
      throw new TypeError(`not a Fastify variant: ${config.variant}`);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

/**
 * The middleware of the "JWT in Express" tutorials, as written there: the secret (or, for ES256,
 * the public key PEM) straight from the environment on every call, 403 for any failure.
 */
function authenticateToken(req: Request, res: Response, next: NextFunction): void {
  const authHeader = req.headers.authorization;
  const token = authHeader?.split(' ')[1];
  if (token === undefined) {
    res.sendStatus(401);
    return;
  }
  jwt.verify(token, process.env.JWT_SECRET as string, (err, user) => {
    if (err) {
      res.sendStatus(403);
      return;
    }
    (req as Request & { user?: unknown }).user = user;
    next();
  });
}

async function startExpress(config: ServerConfig): Promise<number> {
  const app = express();
  switch (config.variant) {
    case 'express':
      app.get('/me', (_req, res) => {
        res.json({ sub: SUBJECT });
      });
      break;
    case 'express+latchkey': {
      const verifier = await createLatchkeyVerifier(requireMaterial(config), config.cache ?? true);
      app.get('/me', requireAuth(verifier), (req, res) => {
        res.json({ sub: req.auth?.sub });
      });
      break;
    }
    case 'express+jsonwebtoken-seed': {
      const material = requireMaterial(config);
      process.env.JWT_SECRET = material.secret ?? material.publicPEM ?? '';
      app.get('/me', authenticateToken, (req, res) => {
        res.json({ sub: (req as Request & { user?: { sub?: string } }).user?.sub });
      });
      break;
    }
    default:
      throw new TypeError(`not an Express variant: ${config.variant}`);
  }
  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_HTTP_SERVER ?? 'null') as ServerConfig | null;
  if (config === null) throw new TypeError('set BENCH_HTTP_SERVER to the JSON of a ServerConfig');
  const port = config.variant.startsWith('fastify') ? await startFastify(config) : await startExpress(config);
  // So that --cpu-prof writes its profile: it does on exit, not when a signal ends the process.
  process.once('SIGTERM', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

await main();
