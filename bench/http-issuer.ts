/**
 * The HTTP benchmark's issuer: a key per algorithm, the token every request carries, and a tiny
 * server on loopback that publishes each asymmetric key's discovery document and JWKS, as a
 * Latchkey server does, so that `createRemoteVerifier` starts exactly as it would in production
 * without the network. Each algorithm is its own issuer (`<origin>/<alg>`), with one key in its set.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createSigner,
  exportPublicJWK,
  exportPublicPEM,
  generateKeyPair,
  importSecret,
  type Key,
} from '../src/jwt/index.js';
import { ACCESS_TOKEN_TYP, WELL_KNOWN } from '../src/protocol.js';
import type { HttpAlg } from './http-report.js';

export const AUDIENCE = 'https://api.example.com';
export const SUBJECT = 'user-1234';
const TTL_SECONDS = 3600;

/** What a server process needs to check one algorithm's tokens, in a form that survives JSON. */
export interface AlgMaterial {
  alg: HttpAlg;
  issuer: string;
  kid: string;
  /** HS256: the shared secret as a string, the way tutorials keep it in JWT_SECRET. */
  secret: string | null;
  /** ES256, EdDSA: the public key as SPKI PEM. */
  publicPEM: string | null;
}

export interface AlgFixture {
  material: AlgMaterial;
  /** Signed by the issuer's key; every benchmark request carries it. */
  token: string;
  /** Same header and claims, signed by another key under the same kid: every auth layer must refuse it. */
  forgedToken: string;
}

export interface Issuer {
  origin: string;
  fixtures: ReadonlyMap<HttpAlg, AlgFixture>;
  close(): Promise<void>;
}

function signToken(key: Key, issuer: string): string {
  const sign = createSigner({
    key,
    typ: ACCESS_TOKEN_TYP,
    issuer,
    audience: AUDIENCE,
    expiresInSeconds: TTL_SECONDS,
  });
  return sign({ sub: SUBJECT });
}

async function createKeys(alg: HttpAlg, kid: string): Promise<{ signing: Key; forging: Key; public: Key }> {
  if (alg === 'HS256') {
    const secret = randomBytes(32).toString('base64url');
    const signing = importSecret(Buffer.from(secret, 'utf8'), alg, { kid });
    const forging = importSecret(randomBytes(43), alg, { kid });
    return { signing, forging, public: signing };
  }
  const pair = await generateKeyPair(alg, { kid });
  const other = await generateKeyPair(alg, { kid });
  return { signing: pair.privateKey, forging: other.privateKey, public: pair.publicKey };
}

async function createFixture(alg: HttpAlg, origin: string): Promise<{ fixture: AlgFixture; key: Key }> {
  const issuer = `${origin}/${alg.toLowerCase()}`;
  const kid = `bench-http-${alg.toLowerCase()}`;
  const keys = await createKeys(alg, kid);
  const symmetric = alg === 'HS256';
  const material: AlgMaterial = {
    alg,
    issuer,
    kid,
    secret: symmetric ? (keys.signing.keyObject.export() as Buffer).toString('utf8') : null,
    publicPEM: symmetric ? null : exportPublicPEM(keys.public),
  };
  const fixture = {
    material,
    token: signToken(keys.signing, issuer),
    forgedToken: signToken(keys.forging, issuer),
  };
  return { fixture, key: keys.public };
}

/** Serves `/<alg>/.well-known/openid-configuration` and `/<alg>/.well-known/jwks.json`; HS256 is never published. */
export async function startIssuer(algs: readonly HttpAlg[]): Promise<Issuer> {
  const documents = new Map<string, unknown>();
  const server: Server = createServer((request, response) => {
    const body = documents.get(request.url ?? '');
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=86400' })
      .end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fixtures = new Map<HttpAlg, AlgFixture>();
  for (const alg of algs) {
    const { fixture, key } = await createFixture(alg, origin);
    fixtures.set(alg, fixture);
    if (alg === 'HS256') continue;
    const { issuer } = fixture.material;
    const path = new URL(issuer).pathname;
    documents.set(`${path}${WELL_KNOWN.discovery}`, {
      issuer,
      jwks_uri: `${issuer}${WELL_KNOWN.jwks}`,
      revocation_feed_uri: `${issuer}${WELL_KNOWN.revocationFeed}`,
    });
    documents.set(`${path}${WELL_KNOWN.jwks}`, { keys: [exportPublicJWK(key)] });
  }
  return {
    origin,
    fixtures,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
