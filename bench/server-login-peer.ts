/**
 * The server benchmark's login peer, a process of its own: Fastify 5 as it comes (no logger, no
 * plugins) with one route, POST /auth/login, which verifies the body's password against an argon2id
 * hash of the benchmark's password and answers {"status":"ok"}, or 401 when it does not verify;
 * nothing else. The hash has the server's parameters, checks are bounded by the server's hash
 * concurrency as Latchkey bounds them (both read from the same environment), and V8 tiers its code up
 * as it does Latchkey's. It shows what answering a login over HTTP costs on the server's core before
 * Latchkey does anything of its own. Listens on a free loopback port and prints
 * `{"port":N,"hashConcurrency":N,"argon2":{…}}` on one line, for the benchmark to check against the raw
 * process's.
 *
 *   node --import tsx bench/server-login-peer.ts
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { PasswordHasher } from '../src/auth/passwords.js';
import { tierUpServerCode } from '../src/server/jit-tiering.js';
import { PASSWORD } from './server-clients.js';
import { type ServerHashing, serverHashing } from './server-hashing.js';

tierUpServerCode();
const hashing = serverHashing(process.env);
const hasher = new PasswordHasher({ argon2: hashing.argon2, maxConcurrent: hashing.hashConcurrency });
const storedHash = await hasher.hash(PASSWORD);

const app = Fastify();
app.post<{ Body: { password?: unknown } }>('/auth/login', async (request, reply) => {
  const { password } = request.body;
  const { ok } = await hasher.check(storedHash, typeof password === 'string' ? password : '');
  return ok ? { status: 'ok' } : reply.code(401).send({ status: 'refused' });
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.once('SIGTERM', () => process.exit(0));
const hello: { port: number } & ServerHashing = {
  port: (app.server.address() as AddressInfo).port,
  ...hashing,
};
process.stdout.write(`${JSON.stringify(hello)}\n`);
