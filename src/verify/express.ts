/**
 * Express: `requireAuth(verifier)` puts the verified claims on `req.auth` or answers 401/503;
 * `requireScope(...)` and `requireRole(...)` after it answer 403 insufficient_scope.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AccessTokenClaims } from '../protocol.js';
import {
  type AuthAnswer,
  type AuthOptions,
  type AuthRequirement,
  authenticateBearer,
  checkRequirement,
  type TokenVerifier,
} from './core.js';

declare global {
  namespace Express {
    interface Request {
      /** The verified access token's claims, set by `requireAuth()`. */
      auth?: AccessTokenClaims;
    }
  }
}

/** The options `requireAuth` ran with, for the requireScope/requireRole after it (same realm). */
const optionsOf = new WeakMap<Request, AuthOptions>();

function send(res: Response, answer: AuthAnswer): void {
  res.status(answer.status).set(answer.headers).set('cache-control', 'no-store').json(answer.body);
}

export function requireAuth(
  verifier: TokenVerifier,
  requirement: AuthRequirement = {},
  options: AuthOptions = {},
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    authenticateBearer(verifier, req.headers.authorization, requirement, options).then((result) => {
      if (!result.ok) return send(res, result.answer);
      req.auth = result.claims;
      optionsOf.set(req, options);
      next();
    }, next);
  };
}

function requireClaims(requirement: AuthRequirement): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.auth === undefined) {
      next(new Error('requireScope/requireRole must come after requireAuth()'));
      return;
    }
    const refusal = checkRequirement(req.auth, requirement, optionsOf.get(req));
    if (refusal === null) next();
    else send(res, refusal);
  };
}

/** Every one of these scopes must be in the token's `scope`. */
export const requireScope = (...scopes: string[]): RequestHandler => requireClaims({ scopes });

/** At least one of these roles must be in the token's `roles`. */
export const requireRole = (...roles: string[]): RequestHandler => requireClaims({ roles });
