/**
 * Graceful shutdown: a request that arrives on an open connection once close() has begun is refused
 * in the contract's shape (503 `unavailable`, Connection: close), so a proxy can retry it elsewhere.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';

describe('shutting down', () => {
  it('answers a request that arrives during close() with 503 unavailable, then closes', async () => {
    const app = await createTestApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    // Half a request: the connection is busy, so close() waits for it instead of dropping it.
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = app.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.write('\r\n');
    await once(socket, 'close');
    await closed;
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 503 /);
    expect(head.toLowerCase()).toContain('connection: close');
    expect(head.toLowerCase()).toContain('retry-after: 5');
    expect(head.toLowerCase()).toContain('x-content-type-options: nosniff');
    expect(JSON.parse(body)).toEqual({
      error: 'unavailable',
      message: 'this instance is shutting down; try another',
    });
  });
});
