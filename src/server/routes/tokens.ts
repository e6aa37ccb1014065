/** Registration, login, refresh and logout: the routes that hand out or end refresh tokens. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedTokens, Principal } from '../../auth/service.js';
import { AuthError } from '../../errors.js';
import { REFRESH_COOKIE, refreshCookieOptions } from '../cookies.js';
import { requireSameOrigin } from '../csrf.js';
import { bearerToken, clientContext } from '../request-context.js';
import type { Runtime } from '../runtime.js';
import { credentialsBody, errors, loginBody, refreshBody, tokenResponse, userResponse } from '../schemas.js';

/** Cookie requests have no body at all; the schema still applies to any body that is sent. */
async function optionalBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}

interface Credentials {
  email: string;
  password: string;
}

export function registerTokenRoutes(app: FastifyInstance, runtime: Runtime): void {
  const { service, config } = runtime;

  const sendTokens = (reply: FastifyReply, tokens: IssuedTokens, mode: 'cookie' | 'body') => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const body: Record<string, unknown> = {
      access_token: tokens.accessToken,
      token_type: 'Bearer',
      expires_in: tokens.expiresIn,
    };
    if (mode === 'body') body.refresh_token = tokens.refreshToken;
    else {
      const maxAge = (tokens.refreshExpiresAt - runtime.now()) / 1000;
      reply.setCookie(
        REFRESH_COOKIE,
        tokens.refreshToken,
        refreshCookieOptions(config.secureCookies, maxAge),
      );
    }
    return body;
  };

  const clearCookie = (reply: FastifyReply) =>
    reply.clearCookie(REFRESH_COOKIE, refreshCookieOptions(config.secureCookies, 0));

  /** The refresh token of a request: from the body if it has one, else from the cookie after a CSRF check. */
  const presentedRefreshToken = (
    request: FastifyRequest,
  ): { token: string; via: 'cookie' | 'body' } | null => {
    const body = request.body as { refresh_token?: string } | undefined;
    if (body?.refresh_token !== undefined) return { token: body.refresh_token, via: 'body' };
    const cookie = request.cookies[REFRESH_COOKIE];
    if (cookie === undefined || cookie === '') return null;
    requireSameOrigin(
      {
        origin: request.headers.origin,
        secFetchSite: request.headers['sec-fetch-site'] as string | undefined,
      },
      config.allowedOrigins,
    );
    return { token: cookie, via: 'cookie' };
  };

  app.post(
    '/auth/register',
    {
      schema: {
        tags: ['auth'],
        body: credentialsBody,
        response: { 201: userResponse, ...errors(400, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { email, password } = request.body as Credentials;
      const user = await service.register(email, password, clientContext(request));
      reply.code(201);
      return { user: { id: user.id, email: user.email, created_at: new Date(user.createdAt).toISOString() } };
    },
  );

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        body: loginBody,
        response: { 200: tokenResponse, ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const { email, password, refresh_in } = request.body as Credentials & {
        refresh_in?: 'cookie' | 'body';
      };
      const tokens = await service.login(email, password, clientContext(request));
      return sendTokens(reply, tokens, refresh_in ?? 'cookie');
    },
  );

  app.post(
    '/auth/refresh',
    {
      preValidation: optionalBody,
      schema: {
        tags: ['auth'],
        body: refreshBody,
        response: { 200: tokenResponse, ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const presented = presentedRefreshToken(request);
      if (presented === null) {
        throw new AuthError('ERR_INVALID_GRANT', 'no refresh token: send the cookie or refresh_token');
      }
      try {
        return sendTokens(reply, await service.refresh(presented.token), presented.via);
      } catch (error) {
        // A dead cookie is useless to the browser; drop it so the client goes to login.
        if (presented.via === 'cookie') clearCookie(reply);
        throw error;
      }
    },
  );

  app.post(
    '/auth/logout',
    {
      preValidation: optionalBody,
      schema: { tags: ['auth'], body: refreshBody, response: { 204: { type: 'null' }, ...errors(400, 403) } },
    },
    async (request, reply) => {
      const presented = presentedRefreshToken(request);
      if (presented !== null) await service.logout(presented.token);
      else {
        const token = bearerToken(request);
        let principal: Principal | null = null;
        try {
          // Logout never fails: a bad or expired access token simply has nothing to end.
          if (token !== undefined && token !== '') principal = service.authenticate(token);
        } catch {}
        if (principal !== null) await service.endSession(principal.sessionId);
      }
      clearCookie(reply);
      reply.header('cache-control', 'no-store').code(204).send();
    },
  );
}
