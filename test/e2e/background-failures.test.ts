/**
 * A store that breaks under a running server shows: background work that fails is logged, counted in
 * /metrics, and after a few failures in a row /readyz answers 503, so a load balancer takes the
 * instance out before it serves on stale revocations or keys. The store is broken for real: another
 * connection drops the signing-key table of the SQLite file while the server runs.
 */
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, request, startServer } from './support.js';

let server: RunningServer;
const logLines: string[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      logLines.push(chunk.toString());
      callback();
    },
  });
  server = await startServer({}, { logger: { level: 'info', stream } });
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe('a store that fails under a running server', () => {
  it('is logged, counted in /metrics, and turns /readyz to 503', async () => {
    expect((await request(server.baseUrl, '/readyz')).status).toBe(200);
    const db = new Database(`${server.dataDir}/latchkey.sqlite`);
    try {
      db.exec('DROP TABLE signing_keys');
    } finally {
      db.close();
    }
    const started = Date.now();
    let ready = await request(server.baseUrl, '/readyz');
    while (ready.status === 200 && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await request(server.baseUrl, '/readyz');
    }
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({
      error: 'unavailable',
      message: expect.stringMatching(/^background work is failing: sync \(\d+ times in a row\)/),
    });
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const failures = /^latchkey_background_failures_total\{task="sync"\} (\d+)$/m.exec(metrics)?.[1];
    expect(Number(failures)).toBeGreaterThanOrEqual(3);
    const logged = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 50,
        task: 'sync',
        msg: 'background work failed; retrying on its next tick',
      }),
    );
  });
});
