/**
 * Fastify: register `latchkeyAuth` with a verifier, then protect routes with
 * `{ preHandler: app.requireAuth() }` (or `app.requireAuth({ roles: ['admin'] })`); the verified
 * claims are on `request.auth`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { AccessTokenClaims } from '../protocol.js';
import {
  type AuthAnswer,
  type AuthOptions,
  type AuthRequirement,
  authenticateBearer,
  type TokenVerifier,
} from './core.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token's claims on routes behind `requireAuth()`; null elsewhere. */
    auth: AccessTokenClaims | null;
  }
  interface FastifyInstance {
    requireAuth(requirement?: AuthRequirement): preHandlerAsyncHookHandler;
  }
}

export interface LatchkeyAuthOptions extends AuthOptions {
  verifier: TokenVerifier;
}

function send(reply: FastifyReply, answer: AuthAnswer): FastifyReply {
  return reply
    .code(answer.status)
    .headers(answer.headers)
    .header('cache-control', 'no-store')
    .send(answer.body);
}

async function plugin(app: FastifyInstance, options: LatchkeyAuthOptions): Promise<void> {
  const { verifier, ...authOptions } = options;
  app.decorateRequest('auth', null);
  app.decorate('requireAuth', (requirement: AuthRequirement = {}): preHandlerAsyncHookHandler => {
    return async function requireAuth(request: FastifyRequest, reply: FastifyReply) {
      const result = await authenticateBearer(
        verifier,
        request.headers.authorization,
        requirement,
        authOptions,
      );
      if (!result.ok) return send(reply, result.answer);
      request.auth = result.claims;
    };
  });
}

// What fastify-plugin does: the decorators reach the app that registers the plugin, not a child.
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'latchkey-auth';

export const latchkeyAuth = plugin;
