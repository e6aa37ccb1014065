/**
 * `fetchJSON` against real local servers that answer as a slow, huge, broken or redirecting issuer
 * would: every failure is a `FetchJSONError` that says why, within the time limit, without reading
 * more than the size limit.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { FetchJSONError, fetchJSON, parseMaxAge } from '../../src/verify/fetch-json.js';
import {
  type ControlledServer,
  eventually,
  json,
  reservePort,
  startControlledServer,
} from './controlled-server.js';

const servers: ControlledServer[] = [];

async function serve(handler: Parameters<typeof startControlledServer>[0]): Promise<ControlledServer> {
  const server = await startControlledServer(handler);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const options = {
  fetch: (input: string, init: RequestInit) => fetch(input, init),
  timeoutMs: 2000,
  maxBytes: 1024,
};

/** The rejection of `promise`, which must be a FetchJSONError. */
async function failure(promise: Promise<unknown>): Promise<FetchJSONError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(FetchJSONError);
  return error as FetchJSONError;
}

describe('fetchJSON', () => {
  it('returns the parsed body and the max-age of a 200 answer', async () => {
    const server = await serve(json({ keys: [] }, { 'cache-control': 'public, max-age=300' }));
    await expect(fetchJSON(`${server.url}/jwks`, options)).resolves.toEqual({
      body: { keys: [] },
      maxAgeSeconds: 300,
    });
  });

  it('refuses an answer whose Content-Length is over the limit, without reading it', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '2048' });
      response.end(`"${'x'.repeat(2046)}"`);
    });
    const error = await failure(fetchJSON(`${server.url}/jwks`, options));
    expect(error.message).toBe(`${server.url}/jwks: the answer is larger than 1024 bytes`);
  });

  it('stops reading a chunked answer that grows past the limit, and drops the connection', async () => {
    let closed = false;
    const server = await serve((_request, response: ServerResponse) => {
      // No Content-Length: the size shows only while reading. The body never ends on its own.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('[');
      const timer = setInterval(() => response.write(`"${'x'.repeat(254)}",`), 5);
      response.on('close', () => {
        clearInterval(timer);
        closed = true;
      });
    });
    // A time limit far away: only the size limit can end this read.
    const error = await failure(fetchJSON(`${server.url}/jwks`, { ...options, timeoutMs: 60_000 }));
    expect(error.message).toBe(`${server.url}/jwks: the answer is larger than 1024 bytes`);
    await eventually('the server sees the connection dropped', () => closed);
  });

  it('gives up on a server that never answers within timeoutMs', async () => {
    const server = await serve(() => {});
    const started = Date.now();
    const error = await failure(fetchJSON(`${server.url}/jwks`, { ...options, timeoutMs: 200 }));
    expect(error.message).toBe(`${server.url}/jwks: no answer within 200 ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    // A hang would last until the test's own timeout; the margin is for a loaded machine.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives up on a body that stops coming within timeoutMs', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"keys":');
    });
    const started = Date.now();
    const error = await failure(fetchJSON(`${server.url}/jwks`, { ...options, timeoutMs: 200 }));
    expect(error.message).toBe(`${server.url}/jwks: no answer within the time limit`);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it.each([404, 500, 204, 304])('refuses a %i answer', async (status) => {
    const server = await serve((_request, response) => {
      response.writeHead(status).end();
    });
    const error = await failure(fetchJSON(`${server.url}/jwks`, options));
    expect(error.message).toBe(`${server.url}/jwks: answered ${status}`);
  });

  it('refuses an answer that is not JSON', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('<html>maintenance</html>');
    });
    const error = await failure(fetchJSON(`${server.url}/jwks`, options));
    expect(error.message).toBe(`${server.url}/jwks: the answer is not JSON`);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([301, 302, 307, 308])('refuses a %i redirect, and never asks where it points', async (status) => {
    const server = await serve((request, response) => {
      if (request.url === '/jwks') response.writeHead(status, { location: '/elsewhere' }).end();
      else json({ keys: [] })(request, response);
    });
    const error = await failure(fetchJSON(`${server.url}/jwks`, options));
    expect(error.message).toBe(`${server.url}/jwks: unexpected redirect`);
    expect(server.hits('/elsewhere')).toBe(0);
  });

  it('says why it could not connect', async () => {
    const url = `http://127.0.0.1:${await reservePort()}/jwks`;
    const error = await failure(fetchJSON(url, options));
    expect(error.message).toBe(`${url}: ECONNREFUSED`);
  });
});

describe('parseMaxAge', () => {
  it.each([
    [null, null],
    ['', null],
    ['public', null],
    ['max-age=300', 300],
    ['public, max-age=300', 300],
    ['Public, Max-Age=60, must-revalidate', 60],
    ['max-age=0', 0],
    ['no-store', 0],
    ['max-age=300, no-cache', 0],
    ['max-age=-5', null],
    ['max-age=1e3', null],
    ['max-age=', null],
    ['s-maxage=300', null],
  ])('%j → %j', (header, expected) => {
    expect(parseMaxAge(header)).toBe(expected);
  });
});
