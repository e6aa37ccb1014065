/**
 * The server package as an operator installs it: `npm pack`, then the tarball installed into an
 * empty project with --omit=dev (no TypeScript, no tsx). The CLI and the server run compiled code,
 * and latchkey/jwt imports, from that install alone.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let work: string;
let consumer: string;
let installOutput = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'latchkey-tarball-'));
  consumer = join(work, 'consumer');
  await mkdir(consumer);
  // Built by test/global-setup.ts; --ignore-scripts so no second build runs meanwhile.
  const packed = execFileSync('npm', ['pack', '--pack-destination', work, '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
  });
  const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
  await writeFile(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'ops', private: true, type: 'module' }),
  );
  const installed = await promisify(execFile)(
    'npm',
    ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', join(work, filename)],
    { cwd: consumer, encoding: 'utf8' },
  );
  installOutput = installed.stdout + installed.stderr;
}, 600_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

const env = () => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' });

describe('the packed server, installed with --omit=dev', () => {
  it('installs without claiming that the dist/ and web UI it ships are not built', () => {
    expect(installOutput).not.toMatch(/not built/);
    expect(existsSync(join(consumer, 'node_modules', 'latchkey', 'dist', 'web', 'index.html'))).toBe(true);
  });

  it('ships the production build of the web UI, even though the test run built it', async () => {
    // vitest sets NODE_ENV=test; a development bundle would name this checkout's source files.
    const assets = join(consumer, 'node_modules', 'latchkey', 'dist', 'web', 'assets');
    const scripts = (await readdir(assets)).filter((name) => name.endsWith('.js'));
    expect(scripts).toHaveLength(1);
    const bundle = await readFile(join(assets, scripts[0] as string), 'utf8');
    expect(bundle).not.toContain(join(root, 'web'));
  });

  it('has no TypeScript loader installed', () => {
    expect(existsSync(join(consumer, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(consumer, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(consumer, 'node_modules', 'latchkey', 'dist', 'server', 'main.js'))).toBe(true);
  });

  it('runs `npx latchkey --help`, `latchkey migrate` and `latchkey keys list`', async () => {
    const help = await promisify(execFile)('npx', ['latchkey', '--help'], { cwd: consumer, env: env() });
    expect(help.stdout).toContain('Usage: latchkey');
    const data = { ...env(), LATCHKEY_DATA_DIR: join(work, 'cli-data') };
    await promisify(execFile)('npx', ['latchkey', 'migrate'], { cwd: consumer, env: data });
    const keys = await promisify(execFile)('npx', ['latchkey', 'keys', 'list'], { cwd: consumer, env: data });
    expect(keys.stdout).toMatch(/^KID +ALG +STATE/);
  });

  it('starts the server, which answers /healthz and publishes its keys', async () => {
    const server = spawn(process.execPath, ['node_modules/latchkey/dist/server/main.js'], {
      cwd: consumer,
      env: { ...env(), PORT: '0', HOST: '127.0.0.1', LATCHKEY_DATA_DIR: join(work, 'server-data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      server.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      const deadline = Date.now() + 30_000;
      while (!/listening on (http:\S+)/.test(output) && Date.now() < deadline && server.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const url = /listening on (http:\S+)/.exec(output)?.[1];
      expect(url, output).toBeDefined();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      expect(jwks.keys).toHaveLength(1);
    } finally {
      server.kill();
      if (server.exitCode === null) await once(server, 'exit');
    }
  });

  it('imports latchkey/jwt from plain Node', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { generateKeyPair } from 'latchkey/jwt'; const { publicKey } = await generateKeyPair('ES256'); console.log(publicKey.alg);",
      ],
      { cwd: consumer, env: env() },
    );
    expect(stdout.trim()).toBe('ES256');
  });
});
