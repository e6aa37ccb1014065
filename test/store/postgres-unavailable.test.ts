/**
 * A PostgreSQL that goes away under a running store: every query then fails as StoreError
 * ERR_STORE_UNAVAILABLE (503 `unavailable` at the HTTP level), not as a bare driver error (500), and
 * the store (and the server on it) serves again once the database is back. The database is reached through a TCP proxy in
 * this process, which the test cuts and restores; the server itself is never stopped.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { openPostgresStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';
import { createTestApp, SAME_ORIGIN } from '../support/app.js';
import { recordFailure } from '../support/counters.js';
import { postgresTarget, type TestDatabase } from '../support/postgres.js';

const T0 = 1_700_000_000_000;
const target = await postgresTarget();

/** Forwards a local port to PostgreSQL until cut; `restore` listens on the same port again. */
class CuttableProxy {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(
    readonly host: string,
    readonly upstreamPort: number,
  ) {}

  async listen(): Promise<void> {
    const server = createServer((client) => {
      this.#sockets.add(client);
      client.once('close', () => this.#sockets.delete(client));
      client.on('error', () => {});
      // Frozen: the connection is taken and never answered, as by a host that hangs.
      if (this.frozen) return;
      const upstream = createConnection({ host: this.host, port: this.upstreamPort });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  frozen = false;

  /** Every open connection stops passing data, and new ones are taken but never answered. */
  freeze(): void {
    this.frozen = true;
    for (const socket of this.#sockets) socket.pause();
  }

  /** Stops listening and drops every open connection, as a database host that went away. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }
}

describe.runIf(target.kind === 'server')('a PostgreSQL that goes away', () => {
  let database: TestDatabase;
  let proxy: CuttableProxy;
  let store: Store;

  beforeAll(async () => {
    database = await target.createDatabase();
    const url = new URL(database.url);
    proxy = new CuttableProxy(url.hostname, Number(url.port || 5432));
    await proxy.listen();
    url.port = String(proxy.port);
    store = await openPostgresStore(url.toString());
    await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
  });

  afterAll(async () => {
    await store?.close();
    await proxy?.cut();
    await database?.drop();
  });

  async function failure(work: Promise<unknown>): Promise<unknown> {
    return work.then(
      () => expect.fail('expected the store to fail'),
      (error: unknown) => error,
    );
  }

  it('fails queries on lost and refused connections as ERR_STORE_UNAVAILABLE, then serves again', async () => {
    expect((await store.findUserById('u1'))?.email).toBe('u1@example.com');
    await proxy.cut();
    // The pooled connections are gone mid-use, and new ones are refused.
    for (let i = 0; i < 3; i++) {
      const error = await failure(store.findUserById('u1'));
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect((error as Error).message).toMatch(
        /^(PostgreSQL cannot serve the query|cannot connect to PostgreSQL): /,
      );
    }
    const write = await failure(recordFailure(store, 'k', 60_000, T0));
    expect(write).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });

    await proxy.listen();
    expect((await store.findUserById('u1'))?.email).toBe('u1@example.com');
  });

  it('answers 503 unavailable over HTTP while the database is away, and serves again after', async () => {
    const url = new URL(database.url);
    url.port = String(proxy.port);
    const app = await createTestApp({ DATABASE_URL: url.toString() });
    try {
      const login = () =>
        app.inject({
          method: 'POST',
          url: '/auth/login',
          headers: SAME_ORIGIN,
          payload: { email: 'nobody@example.com', password: 'correct horse battery staple' },
        });
      expect((await login()).statusCode).toBe(401);
      await proxy.cut();
      const away = await login();
      expect(away.statusCode).toBe(503);
      expect(away.json()).toMatchObject({ error: 'unavailable' });
      expect(away.headers['retry-after']).toBe('5');
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
      await proxy.listen();
      expect((await login()).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('answers /readyz with 503 within seconds when the database hangs', async () => {
    const url = new URL(database.url);
    url.port = String(proxy.port);
    const app = await createTestApp({ DATABASE_URL: url.toString() });
    try {
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      proxy.freeze();
      const started = performance.now();
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ error: 'unavailable', message: 'the database is not reachable' });
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await proxy.cut();
      await proxy.listen();
      proxy.frozen = false;
      await app.close();
    }
  });

  it('passes errors of the query itself on as they are', async () => {
    // A second user with the same email: the store's own conflict, not an outage.
    const error = await failure(
      store.createUser({ id: 'u2', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 }),
    );
    expect(error).toMatchObject({ code: 'ERR_STORE_CONFLICT' });
  });
});
