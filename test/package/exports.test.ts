/**
 * The toolkit as another service meets it: plain Node, no TypeScript loader, importing the package
 * by name. The package's own exports resolve it (self-reference), so this reads the same built files
 * an installed copy would (test/global-setup.ts builds them first).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs an ES module in a plain `node` (no tsx) from the package root and returns its JSON output. */
function runPlainNode(source: string): unknown {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', source], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  return JSON.parse(out);
}

describe('package exports', () => {
  it('signs and verifies through latchkey/jwt in plain Node, with errors from latchkey/errors', () => {
    const result = runPlainNode(`
      import { createSigner, createVerifier, generateKeyPair, KeySet } from 'latchkey/jwt';
      import { JOSEError, LatchkeyError } from 'latchkey/errors';
      const { privateKey, publicKey } = await generateKeyPair('ES256', { kid: 'k1' });
      const sign = createSigner({ key: privateKey, typ: 'at+jwt', issuer: 'iss', audience: 'api', expiresInSeconds: 60 });
      const verify = createVerifier({ key: new KeySet([publicKey]), issuer: 'iss', audience: 'api', typ: 'at+jwt' });
      const token = sign({ sub: 'user-1' });
      let refused;
      try {
        verify(token.slice(0, -2) + (token.endsWith('AA') ? 'BA' : 'AA'));
      } catch (error) {
        refused = { latchkey: error instanceof LatchkeyError, jose: error instanceof JOSEError, code: error.code };
      }
      console.log(JSON.stringify({ sub: verify(token).payload.sub, refused }));
    `);
    expect(result).toEqual({
      sub: 'user-1',
      refused: { latchkey: true, jose: true, code: 'ERR_JWS_SIGNATURE_INVALID' },
    });
  });

  it('loads latchkey/verify, its adapters, latchkey/client and latchkey/protocol in plain Node', () => {
    const result = runPlainNode(`
      import { createRemoteVerifier, parseAuthorization } from 'latchkey/verify';
      import { requireAuth } from 'latchkey/verify/express';
      import { latchkeyAuth } from 'latchkey/verify/fastify';
      import * as hono from 'latchkey/verify/hono';
      import { authenticate } from 'latchkey/verify/node';
      import { createClient, LatchkeyClientError } from 'latchkey/client';
      import { WELL_KNOWN } from 'latchkey/protocol';
      const verifier = createRemoteVerifier({ issuer: 'https://auth.example', audience: 'api' });
      const client = createClient({ baseUrl: 'https://auth.example', refreshToken: { get: () => null, set() {} } });
      console.log(JSON.stringify({
        bearer: parseAuthorization('Bearer abc'),
        adapters: [typeof requireAuth, typeof latchkeyAuth, typeof hono.requireRole, typeof authenticate],
        status: verifier.status().ready,
        client: client.authenticated,
        error: new LatchkeyClientError('rate_limited', 'slow down', 429, 3).retryAfterSeconds,
        jwks: WELL_KNOWN.jwks,
      }));
    `);
    expect(result).toEqual({
      bearer: { kind: 'token', token: 'abc' },
      adapters: ['function', 'function', 'function', 'function'],
      status: false,
      client: false,
      error: 3,
      jwks: '/.well-known/jwks.json',
    });
  });

  it('packs the built files, which .gitignore would otherwise keep out of the tarball', () => {
    const packed = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
    });
    const [{ files }] = JSON.parse(packed) as [{ files: { path: string }[] }];
    const paths = files.map((file) => file.path);
    for (const path of ['dist/jwt/index.js', 'dist/jwt/index.d.ts', 'dist/errors.js', 'bin/latchkey.js']) {
      expect(paths).toContain(path);
    }
    expect(paths.filter((path) => path.startsWith('test/') || path.startsWith('bench/'))).toEqual([]);
  }, 60_000);

  it('points every export at built JavaScript and its type declarations', () => {
    const { exports } = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
    };
    for (const [name, target] of Object.entries(exports)) {
      expect(target.default, name).toMatch(/^\.\/dist\/.*\.js$/);
      expect(target.types, name).toBe(target.default.replace(/\.js$/, '.d.ts'));
      expect(readFileSync(`${root}/${target.types}`, 'utf8'), name).toMatch(/export/);
    }
    const declarations = readFileSync(`${root}/dist/jwt/index.d.ts`, 'utf8');
    for (const name of ['createSigner', 'createVerifier', 'importJWKS', 'KeySet', 'decodeUnverified']) {
      expect(declarations).toContain(name);
    }
  });
});
