/**
 * A real `node:http` server on 127.0.0.1 whose answers a test sets and changes while it runs: the
 * issuer's JWKS or feed as a test needs it (slow, huge, broken, redirected), or a proxy in front of
 * a real issuer that the test can take down and bring back on the same port.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export interface ControlledServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Requests received so far for this path (query ignored), or for every path. */
  hits(path?: string): number;
  /** How the server answers from now on. */
  answer(handler: Handler): void;
  close(): Promise<void>;
}

/** Starts on `port` (0: any free one); a handler that throws answers 500. */
export async function startControlledServer(handler: Handler, port = 0): Promise<ControlledServer> {
  let current = handler;
  const hits = new Map<string, number>();
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    Promise.resolve()
      .then(() => current(request, response))
      .catch(() => {
        if (!response.headersSent) response.writeHead(500);
        response.end();
      });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    hits: (path) =>
      path === undefined ? [...hits.values()].reduce((a, b) => a + b, 0) : (hits.get(path) ?? 0),
    answer(next) {
      current = next;
    },
    close() {
      // Keep-alive sockets (the verifier's fetch pools them) would hold close() open.
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Answers 200 with this JSON and these headers. */
export function json(body: unknown, headers: Record<string, string> = {}): Handler {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };
}

/** Answers each path with its own handler, and 404 for any other. */
export function routes(table: Record<string, Handler>): Handler {
  return (request, response) => {
    const handler = table[new URL(request.url ?? '/', 'http://x').pathname];
    if (handler === undefined) response.writeHead(404).end();
    else return handler(request, response);
  };
}

/** Forwards each GET to `target` with the global fetch, like a reverse proxy in front of it. */
export function forwardTo(target: string): Handler {
  return async (request, response) => {
    const upstream = await fetch(new URL(request.url ?? '/', target), { redirect: 'manual' });
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'cache-control', 'location']) {
      const value = upstream.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const body = Buffer.from(await upstream.arrayBuffer());
    response.writeHead(upstream.status, headers).end(body);
  };
}

/** A port on 127.0.0.1 that was free a moment ago: nothing listens there (yet). */
export async function reservePort(): Promise<number> {
  const server = await startControlledServer(() => {});
  await server.close();
  return server.port;
}

/** Polls `check` until it holds or `timeoutMs` passes; then fails with `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not so after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
