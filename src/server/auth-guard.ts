/** The preHandler of protected routes: a Bearer access token, verified locally and not revoked. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/service.js';
import { JOSEError, RequestError } from '../errors.js';
import { bearerToken } from './request-context.js';

export type BearerGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function createAuthGuard(service: AuthService): BearerGuard {
  return async function requireBearer(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = bearerToken(request);
    if (token === undefined)
      throw new RequestError('ERR_MISSING_TOKEN', 'this route needs a Bearer access token');
    if (token === '') throw new JOSEError('ERR_JWS_MALFORMED', 'the Bearer token is empty');
    request.principal = service.authenticate(token);
  };
}
