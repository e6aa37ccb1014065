/**
 * The same protected API in every framework Latchkey's verifier supports, each on a real socket:
 * `/orders` needs a valid token, `/admin` the role admin, `/write` the scope orders:write. Each
 * answers 200 with the claims it was handed.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { TokenVerifier } from '../../src/verify/core.js';
import * as forExpress from '../../src/verify/express.js';
import { latchkeyAuth } from '../../src/verify/fastify.js';
import * as forHono from '../../src/verify/hono.js';
import { authenticate, sendAuthAnswer } from '../../src/verify/node.js';

export interface RunningAdapter {
  name: string;
  url: string;
  close(): Promise<void>;
}

export const ADAPTER_NAMES = ['express', 'fastify', 'hono', 'node'] as const;
export type AdapterName = (typeof ADAPTER_NAMES)[number];

const REALM = 'orders-api';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

async function startExpress(verifier: TokenVerifier): Promise<RunningAdapter> {
  const app = express();
  const auth = forExpress.requireAuth(verifier, {}, { realm: REALM });
  app.get('/orders', auth, (req, res) => {
    res.json({ claims: req.auth });
  });
  app.get('/admin', auth, forExpress.requireRole('admin'), (req, res) => {
    res.json({ claims: req.auth });
  });
  app.get('/write', auth, forExpress.requireScope('orders:write'), (req, res) => {
    res.json({ claims: req.auth });
  });
  const server = createServer(app);
  return { name: 'express', url: await listen(server), close: () => closeServer(server) };
}

async function startFastify(verifier: TokenVerifier): Promise<RunningAdapter> {
  const app = Fastify();
  await app.register(latchkeyAuth, { verifier, realm: REALM });
  app.get('/orders', { preHandler: app.requireAuth() }, async (request) => ({ claims: request.auth }));
  app.get('/admin', { preHandler: app.requireAuth({ roles: ['admin'] }) }, async (request) => ({
    claims: request.auth,
  }));
  app.get('/write', { preHandler: app.requireAuth({ scopes: ['orders:write'] }) }, async (request) => ({
    claims: request.auth,
  }));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { name: 'fastify', url, close: () => app.close() };
}

async function startHono(verifier: TokenVerifier): Promise<RunningAdapter> {
  const app = new Hono();
  const auth = forHono.requireAuth(verifier, {}, { realm: REALM });
  app.get('/orders', auth, (c) => c.json({ claims: c.get('auth') }));
  app.get('/admin', auth, forHono.requireRole('admin'), (c) => c.json({ claims: c.get('auth') }));
  app.get('/write', auth, forHono.requireScope('orders:write'), (c) => c.json({ claims: c.get('auth') }));
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { name: 'hono', url, close: () => closeServer(server) };
}

async function startNode(verifier: TokenVerifier): Promise<RunningAdapter> {
  const requirements: Record<string, { roles?: string[]; scopes?: string[] }> = {
    '/orders': {},
    '/admin': { roles: ['admin'] },
    '/write': { scopes: ['orders:write'] },
  };
  const server = createServer((req, res) => {
    const requirement = requirements[req.url ?? ''];
    if (requirement === undefined) {
      res.writeHead(404).end();
      return;
    }
    authenticate(verifier, req, requirement, { realm: REALM }).then(
      (result) => {
        if (!result.ok) return sendAuthAnswer(res, result.answer);
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ claims: result.claims }));
      },
      () => res.writeHead(500).end(),
    );
  });
  return { name: 'node', url: await listen(server), close: () => closeServer(server) };
}

const STARTERS: Record<AdapterName, (verifier: TokenVerifier) => Promise<RunningAdapter>> = {
  express: startExpress,
  fastify: startFastify,
  hono: startHono,
  node: startNode,
};

export function startAdapter(name: AdapterName, verifier: TokenVerifier): Promise<RunningAdapter> {
  return STARTERS[name](verifier);
}
