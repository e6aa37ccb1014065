/**
 * Hono: `requireAuth(verifier)` sets the verified claims as the context variable `auth` or answers
 * 401/503; `requireScope(...)` and `requireRole(...)` after it answer 403 insufficient_scope.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AccessTokenClaims } from '../protocol.js';
import {
  type AuthAnswer,
  type AuthOptions,
  type AuthRequirement,
  authenticateBearer,
  checkRequirement,
  type TokenVerifier,
} from './core.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The verified access token's claims, set by `requireAuth()`. */
    auth: AccessTokenClaims;
  }
}

/** The options `requireAuth` ran with, for the requireScope/requireRole after it (same realm). */
const optionsOf = new WeakMap<Context, AuthOptions>();

function send(c: Context, answer: AuthAnswer): Response {
  return c.json(answer.body, answer.status, { ...answer.headers, 'cache-control': 'no-store' });
}

export function requireAuth(
  verifier: TokenVerifier,
  requirement: AuthRequirement = {},
  options: AuthOptions = {},
): MiddlewareHandler {
  return async (c, next) => {
    const result = await authenticateBearer(verifier, c.req.header('authorization'), requirement, options);
    if (!result.ok) return send(c, result.answer);
    c.set('auth', result.claims);
    optionsOf.set(c, options);
    await next();
  };
}

function requireClaims(requirement: AuthRequirement): MiddlewareHandler {
  return async (c, next) => {
    const claims = c.get('auth') as AccessTokenClaims | undefined;
    if (claims === undefined) throw new Error('requireScope/requireRole must come after requireAuth()');
    const refusal = checkRequirement(claims, requirement, optionsOf.get(c));
    if (refusal !== null) return send(c, refusal);
    await next();
  };
}

/** Every one of these scopes must be in the token's `scope`. */
export const requireScope = (...scopes: string[]): MiddlewareHandler => requireClaims({ scopes });

/** At least one of these roles must be in the token's `roles`. */
export const requireRole = (...roles: string[]): MiddlewareHandler => requireClaims({ roles });
