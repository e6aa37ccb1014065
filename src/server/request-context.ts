/** What routes need to know about a request, read once from Fastify's request. */
import type { FastifyRequest } from 'fastify';
import { canonicalAddress } from '../auth/client-address.js';
import type { ClientContext, Principal } from '../auth/service.js';
import { RequestError } from '../errors.js';
import { parseAuthorization } from '../verify/bearer.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer guard on protected routes. */
    principal: Principal | null;
  }
}

export function clientContext(request: FastifyRequest): ClientContext {
  const userAgent = request.headers['user-agent'];
  return { ip: clientAddress(request), userAgent: typeof userAgent === 'string' ? userAgent : null };
}

/**
 * The client's address, in one spelling. request.ip honours X-Forwarded-For only when
 * LATCHKEY_TRUST_PROXY set Fastify's trustProxy, and then it is whatever text the chosen entry holds:
 * one that is no address counts as the connection's own (the proxy's), so junk shares one count
 * instead of being a fresh one each time.
 */
function clientAddress(request: FastifyRequest): string {
  return (
    canonicalAddress(request.ip) ??
    canonicalAddress(request.socket.remoteAddress ?? '') ??
    request.socket.remoteAddress ??
    'unknown'
  );
}

export function requirePrincipal(request: FastifyRequest): Principal {
  if (request.principal === null)
    throw new RequestError('ERR_MISSING_TOKEN', 'this route needs a Bearer access token');
  return request.principal;
}

/**
 * The Bearer token of a request (RFC 6750 §2.1), by the rules every resource-server adapter uses:
 * `undefined` when there is no Authorization header or it uses another scheme (missing_token); an
 * empty or malformed token is returned as it is, for verification to refuse (invalid_token).
 */
export function bearerToken(request: FastifyRequest): string | undefined {
  const credentials = parseAuthorization(request.headers.authorization);
  return credentials.kind === 'token' ? credentials.token : undefined;
}
