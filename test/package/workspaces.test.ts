/**
 * The toolkit packages as a resource server or an app gets them: each workspace package packed with
 * `npm pack -w`, installed from its tarball into an empty project with `--omit=dev`, and used from
 * plain Node. None may carry a runtime dependency or a native build.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../e2e/support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = ['jwt', 'verify', 'client'] as const;

let work: string;
let consumer: string;
const tarballs = new Map<string, { file: string; files: string[] }>();
let issuer: RunningServer;

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'latchkey-packages-'));
  consumer = join(work, 'consumer');
  for (const name of PACKAGES) {
    // Built by test/global-setup.ts; --ignore-scripts so no two builds run at once.
    const out = run(
      'npm',
      ['pack', '-w', `src/${name}`, '--pack-destination', work, '--json', '--ignore-scripts'],
      root,
    );
    const [packed] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
    tarballs.set(name, { file: join(work, packed.filename), files: packed.files.map((file) => file.path) });
  }
  await run('mkdir', ['-p', consumer], work);
  await writeFile(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  const files = PACKAGES.map((name) => tarballs.get(name)?.file ?? '');
  run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--offline', ...files], consumer);
  issuer = await startServer();
}, 180_000);

afterAll(async () => {
  await issuer?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/**
 * An ES module run by a plain `node` in the consumer project; its JSON output. Asynchronous: the
 * issuer it may call runs in this process.
 */
async function inConsumer(source: string, env: Record<string, string> = {}): Promise<unknown> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', source], {
    cwd: consumer,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return JSON.parse(stdout);
}

describe('the workspace packages', () => {
  it.each(PACKAGES)('@latchkey/%s packs only its built files and declares no dependency', async (name) => {
    const { files } = tarballs.get(name) ?? { files: [] };
    expect(files).toContain('package.json');
    expect(files.filter((path) => path !== 'package.json' && !path.startsWith('dist/'))).toEqual([]);
    expect(files.some((path) => path.endsWith('.d.ts'))).toBe(true);
    const manifest = JSON.parse(
      await readFile(join(consumer, 'node_modules', '@latchkey', name, 'package.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.scripts).not.toHaveProperty('install');
    expect(manifest.gypfile).toBeUndefined();
  });

  it('installs nothing but the three packages', async () => {
    const lock = JSON.parse(await readFile(join(consumer, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    expect(
      Object.keys(lock.packages)
        .filter((path) => path !== '')
        .sort(),
    ).toEqual([
      'node_modules/@latchkey/client',
      'node_modules/@latchkey/jwt',
      'node_modules/@latchkey/verify',
    ]);
  });

  it('@latchkey/jwt signs, and @latchkey/verify verifies through a JWKS and discovery it fetches', async () => {
    const result = await inConsumer(`
      import { createServer } from 'node:http';
      import { createSigner, generateKeyPair, KeySet } from '@latchkey/jwt';
      import { createRemoteVerifier, authenticateBearer } from '@latchkey/verify';
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { kid: 'k1' });
      const server = createServer((req, res) => {
        const issuer = 'http://127.0.0.1:' + server.address().port;
        const body = req.url === '/.well-known/openid-configuration'
          ? { issuer, jwks_uri: issuer + '/jwks' }
          : new KeySet([publicKey]).toJWKS();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const issuer = 'http://127.0.0.1:' + server.address().port;
      const token = createSigner({ key: privateKey, typ: 'at+jwt', issuer, audience: 'api', expiresInSeconds: 60 })({ sub: 'u1' });
      const verifier = createRemoteVerifier({ issuer, audience: 'api' });
      const ok = await authenticateBearer(verifier, 'Bearer ' + token);
      const forged = await authenticateBearer(verifier, 'Bearer ' + token.slice(0, -2) + (token.endsWith('AA') ? 'BA' : 'AA'));
      server.close();
      console.log(JSON.stringify({ sub: ok.claims.sub, forged: forged.answer.status, keys: verifier.status().jwks.keys }));
    `);
    expect(result).toEqual({ sub: 'u1', forged: 401, keys: 1 });
  });

  it('@latchkey/client registers, logs in and calls /api/me on a real Latchkey', async () => {
    const result = await inConsumer(
      `
      import { createClient } from '@latchkey/client';
      let stored = null;
      const client = createClient({ baseUrl: process.env.ISSUER, refreshToken: { get: () => stored, set: (t) => { stored = t; } } });
      const email = 'pack-' + Date.now() + '@example.com';
      await client.register(email, 'correct horse battery staple');
      await client.login(email, 'correct horse battery staple');
      const me = await client.me();
      console.log(JSON.stringify({ same: me.email === email, stored: stored.startsWith('lk_rt_') }));
    `,
      { ISSUER: issuer.baseUrl },
    );
    expect(result).toEqual({ same: true, stored: true });
  });
});
