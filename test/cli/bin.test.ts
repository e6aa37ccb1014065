import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { createTestDatabase } from './run-cli.js';

const BIN = fileURLToPath(new URL('../../bin/latchkey.js', import.meta.url));

describe('bin/latchkey.js', () => {
  it('runs as an executable and lists the commands', async () => {
    // Executed directly: the shebang and the executable bit are part of what is tested.
    const { stdout, stderr } = await promisify(execFile)(BIN, ['--help'], { timeout: 20_000 });
    expect(stderr).toBe('');
    for (const command of ['serve', 'migrate', 'users', 'sessions', 'keys', 'token']) {
      expect(stdout).toMatch(new RegExp(`^ {2}${command}\\b`, 'm'));
    }
  });

  it('prints the version of package.json', async () => {
    const { version } = JSON.parse(
      await readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'),
    ) as { version: string };
    const { stdout, stderr } = await promisify(execFile)(BIN, ['--version'], { timeout: 20_000 });
    expect({ stdout, stderr }).toEqual({ stdout: `${version}\n`, stderr: '' });
  });

  it('exits with 2 and the configuration message for a bad variable', async () => {
    const failure = await promisify(execFile)(BIN, ['keys', 'list'], {
      env: { ...process.env, LATCHKEY_ALG: 'none' },
      timeout: 20_000,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({
      code: 2,
      stderr: 'latchkey: invalid configuration: LATCHKEY_ALG: must be ES256, EdDSA, RS256, PS256 or HS256\n',
    });
  });

  it('exits with 0 once a command that opened the store as a server does has finished', async () => {
    // keys rotate builds a runtime (the WAL checkpointer's worker thread among it): closing it must
    // keep the process alive until it is closed, not leave a top-level await unsettled (exit 13).
    const db = await createTestDatabase();
    try {
      await db.run(['migrate']);
      const { stdout, stderr } = await promisify(execFile)(BIN, ['keys', 'rotate'], {
        env: { ...process.env, ...db.env },
        timeout: 20_000,
      });
      expect(stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
      expect(stderr).toBe('new signing key published; it starts signing in 10 minutes\n');
    } finally {
      await db.remove();
    }
  });
});

describe('bin/latchkey.js with its reader gone', () => {
  it('ends quietly, with exit code 0, when stdout is closed (latchkey … | head -1)', async () => {
    const child = spawn(BIN, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the command writes: its first write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('latchkey serve', () => {
  it('serves the API with the configuration from the environment until stopped', async () => {
    const port = await freePort();
    const db = await createTestDatabase({ PORT: String(port), LOG_LEVEL: 'silent' });
    const stop = new AbortController();
    try {
      const running = db.run(['serve'], { stopServe: stop.signal });
      const health = await poll(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      stop.abort();
      expect(await running).toMatchObject({ code: 0, stderr: '' });
    } finally {
      stop.abort();
      await db.remove();
    }
  });
});

async function poll(url: string): Promise<Response> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetch(url);
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
