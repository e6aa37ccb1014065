/**
 * `npm start` as a supervisor runs it: SIGTERM to npm must stop the server, not orphan it. npm passes
 * the signal to the shell it runs the script in, and a shell that does not exec its command would die
 * and leave the server serving (the new-user walkthrough found one still answering /healthz).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { cleanEnv, freePort, sleep } from './support.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

let npm: ChildProcess | null = null;
let serverPid: number | null = null;
let dataDir: string | null = null;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterEach(async () => {
  npm?.kill('SIGKILL');
  if (serverPid !== null && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
  if (dataDir !== null) await rm(dataDir, { recursive: true, force: true });
  npm = null;
  serverPid = null;
  dataDir = null;
});

it('SIGTERM to npm start stops the server gracefully, and it says so', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-npm-start-'));
  const port = await freePort();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv(), PORT: String(port), HOST: '127.0.0.1', LATCHKEY_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  npm = child;
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let waited = 0; !output.includes('Latchkey is listening on'); waited += 100) {
    if (waited > 30_000 || child.exitCode !== null) throw new Error(`no start:\n${output}`);
    await sleep(100);
  }
  // The server's own pid, from its log lines: npm's child is the shell (or, exec'd, the server).
  serverPid = Number(/"pid":(\d+)/.exec(output)?.[1]);
  expect(serverPid).toBeGreaterThan(0);
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

  child.kill('SIGTERM');
  await exited;
  for (let waited = 0; alive(serverPid) && waited < 10_000; waited += 100) await sleep(100);
  expect(alive(serverPid), output).toBe(false);
  expect(output).toContain('Latchkey is stopping (SIGTERM): finishing the requests in flight\n');
  expect(output).toContain('Latchkey stopped\n');
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});
