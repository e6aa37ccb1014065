/**
 * examples/express-api as a user runs it: `node examples/express-api/server.js` in its own process,
 * importing the built package by name, against a real Latchkey.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../../src/auth/admin.js';
import { field, type RunningServer, request, startServer } from '../e2e/support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PASSWORD = 'correct horse battery staple';

let issuer: RunningServer;
let api: ChildProcess;
let apiUrl: string;

beforeAll(async () => {
  issuer = await startServer();
  api = spawn(process.execPath, ['examples/express-api/server.js'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LATCHKEY_ISSUER: issuer.baseUrl, API_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  api.stdout?.setEncoding('utf8');
  api.stdout?.on('data', (chunk: string) => {
    output += chunk;
  });
  while (!/on (http:\/\/127\.0\.0\.1:\d+)/.test(output)) {
    if (api.exitCode !== null) throw new Error(`the example exited: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  apiUrl = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
}, 60_000);

afterAll(async () => {
  if (api !== undefined && api.exitCode === null) {
    api.kill();
    await once(api, 'exit');
  }
  await issuer?.close();
});

describe('examples/express-api', () => {
  it('answers 401 without a token, 200 with one, 403 without the role and 204 with it', async () => {
    const email = `${randomUUID()}@example.com`;
    await request(issuer.baseUrl, '/auth/register', { method: 'POST', body: { email, password: PASSWORD } });
    const login = async () =>
      field(
        await request(issuer.baseUrl, '/auth/login', {
          method: 'POST',
          body: { email, password: PASSWORD, refresh_in: 'body' },
        }),
        'access_token',
      );
    const token = await login();
    const missing = await request(apiUrl, '/orders');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const orders = await request(apiUrl, '/orders', { bearer: token });
    expect(orders.status).toBe(200);
    expect(orders.body?.orders).toHaveLength(2);
    expect((await request(apiUrl, '/orders/1', { method: 'DELETE', bearer: token })).status).toBe(403);
    await new AdminService({ store: issuer.app.latchkey.store }).addRole(email, 'admin');
    expect((await request(apiUrl, '/orders/1', { method: 'DELETE', bearer: await login() })).status).toBe(
      204,
    );
  });
});
