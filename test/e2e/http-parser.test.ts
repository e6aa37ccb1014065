/**
 * What Node's HTTP parser refuses before Fastify sees a request still gets the contract's error
 * shape. Only a real socket shows this: inject() never runs the parser.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientRequestError } from '../../src/server/app.js';
import { type RunningServer, startServer } from './support.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server.close();
});

/** Sends raw bytes and returns everything the server wrote before it closed the connection. */
function exchange(raw: string): Promise<string> {
  const { port } = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(raw));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

function parse(response: string): { status: number; type: string | undefined; body: unknown } {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const [statusLine = '', ...headers] = head.split('\r\n');
  const type = headers
    .find((line) => line.toLowerCase().startsWith('content-type:'))
    ?.slice(13)
    .trim();
  return { status: Number(statusLine.split(' ')[1]), type, body: JSON.parse(body) };
}

describe("errors of Node's HTTP parser", () => {
  it('answers headers over 16 KiB (a huge token) with 431 in the JSON error shape', async () => {
    const token = 'x'.repeat(17 * 1024);
    const response = parse(
      await exchange(`GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`),
    );
    expect(response).toEqual({
      status: 431,
      type: 'application/json',
      body: { error: 'headers_too_large', message: 'the request headers are too large' },
    });
  });

  it('answers a request line that is not HTTP with 400 in the JSON error shape', async () => {
    const response = parse(await exchange('HELLO THERE\r\n\r\n'));
    expect(response).toEqual({
      status: 400,
      type: 'application/json',
      body: { error: 'invalid_request', message: 'the request is not valid HTTP' },
    });
  });

  it('names a request that stalled (Node ends it after requestTimeout, minutes by default)', () => {
    const stalled = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    expect(clientRequestError(stalled)).toMatchObject({
      code: 'ERR_REQUEST_TIMEOUT',
      message: 'the request did not arrive in time',
    });
  });

  it('sends the security headers with these answers too, and with a malformed URL', async () => {
    for (const raw of [
      'HELLO THERE\r\n\r\n',
      `GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(17 * 1024)}\r\n\r\n`,
      'GET /%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    ]) {
      const head = (await exchange(raw)).split('\r\n\r\n')[0]?.toLowerCase() ?? '';
      expect(head).toMatch(/^http\/1\.1 4\d\d /);
      expect(head).toContain("content-security-policy: default-src 'self'");
      expect(head).toContain('x-content-type-options: nosniff');
      expect(head).toContain('x-frame-options: sameorigin');
    }
  });

  it('still serves the next connection normally', async () => {
    const response = await fetch(`${server.baseUrl}/healthz`);
    expect(response.status).toBe(200);
  });
});
