/**
 * A request must arrive whole within REQUEST_TIMEOUT_MS: Fastify sets Node's requestTimeout to 0 (no
 * limit) unless told, and then a client that sends headers and withholds the body keeps its socket
 * for good. Node enforces the limit itself (checked every 30 s), so this checks it is handed over.
 */
import { afterEach, expect, it } from 'vitest';
import { REQUEST_TIMEOUT_MS } from '../../src/server/app.js';
import { closeApps, makeApp } from './helpers.js';

afterEach(closeApps);

it('gives the HTTP server a limit for receiving a whole request', async () => {
  const app = await makeApp();
  await app.listen({ host: '127.0.0.1', port: 0 });
  expect(REQUEST_TIMEOUT_MS).toBe(30_000);
  expect(app.server.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
});
