/**
 * The server's entry point refusing to start: each reason is one line on stderr naming what to change,
 * with exit code 2 for a setting (PORT, HOST) and 1 for a database it cannot use; never a stack trace.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latchkey-start-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts src/server/main.ts with `env` (and nothing else of this process's) and waits for it to exit. */
async function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', ...env },
    timeout: 20_000,
  });
  const outcome = await run.then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
  if (outcome.code === 0) throw new Error('the server started and exited with 0');
  return outcome;
}

async function occupied(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

describe('a server that cannot start', () => {
  it('names PORT when another process has the port', async () => {
    const { server, port } = await occupied();
    try {
      expect(await start({ PORT: String(port), LATCHKEY_DATA_DIR: dir })).toEqual({
        code: 2,
        stderr:
          `latchkey: invalid configuration: PORT: 127.0.0.1:${port} is in use by another process ` +
          '(EADDRINUSE): stop it, or set PORT to a free port\n',
      });
    } finally {
      server.close();
    }
  });

  it('names HOST when it is not an address of this machine', async () => {
    expect(await start({ HOST: '192.0.2.1', PORT: '0', LATCHKEY_DATA_DIR: dir })).toEqual({
      code: 2,
      stderr:
        'latchkey: invalid configuration: HOST: 192.0.2.1 is not an address of this machine ' +
        '(EADDRNOTAVAIL): set HOST to one (0.0.0.0 for all)\n',
    });
  });

  it('names the database path when its directory cannot be created', async () => {
    // Not even root may make a directory in /sys (read-only in some containers: EROFS).
    const path = '/sys/latchkey-test/latchkey.sqlite';
    const { code, stderr } = await start({ PORT: '0', LATCHKEY_DATA_DIR: '/sys/latchkey-test' });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `^latchkey: cannot start: cannot create or write the SQLite database ${path} \\((EPERM|EACCES|EROFS)\\): ` +
          'this user needs to be able to write it and its directory \\(LATCHKEY_DATA_DIR, or the path in ' +
          'DATABASE_URL\\) \\(ERR_STORE_PERMISSION_DENIED\\)\\n$',
      ),
    );
  });

  it('names the database path when it is a symbolic link into nothing (an unmounted volume)', async () => {
    const file = join(dir, 'latchkey.sqlite');
    await symlink(join(dir, 'not-mounted', 'latchkey.sqlite'), file);
    const { code, stderr } = await start({ PORT: '0', LATCHKEY_DATA_DIR: dir });
    expect(code).toBe(1);
    expect(stderr).toBe(
      `latchkey: cannot start: cannot create or write the SQLite database ${file} (ENOENT): ` +
        'this user needs to be able to write it and its directory (LATCHKEY_DATA_DIR, or the path in ' +
        'DATABASE_URL) (ERR_STORE_PERMISSION_DENIED)\n',
    );
  });

  it('names the database path when it is not a database, or a part of it is a file', async () => {
    await writeFile(join(dir, 'latchkey.sqlite'), 'not a database, just text of some length\n'.repeat(100));
    const file = join(dir, 'latchkey.sqlite');
    expect(await start({ PORT: '0', LATCHKEY_DATA_DIR: dir })).toEqual({
      code: 1,
      stderr:
        `latchkey: cannot start: ${file} is not a SQLite database, or a part of its path is a file, ` +
        'not a directory (SQLITE_NOTADB) (ERR_STORE_DATABASE_MISSING)\n',
    });
    const under = join(file, 'sub');
    const { code, stderr } = await start({ PORT: '0', LATCHKEY_DATA_DIR: under });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `^latchkey: cannot start: ${join(under, 'latchkey.sqlite')} is not a SQLite database, or a part of ` +
          'its path is a file, not a directory \\((ENOTDIR|EEXIST)\\) \\(ERR_STORE_DATABASE_MISSING\\)\\n$',
      ),
    );
  });
});
