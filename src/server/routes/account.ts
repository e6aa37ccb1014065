/** Routes of a logged-in user (Bearer): the protected /api/me, sessions, password, logout everywhere. */
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { BearerGuard } from '../auth-guard.js';
import { clearedRefreshCookieHeader, clearRefreshCookie } from '../cookies.js';
import { clientContext, requirePrincipal } from '../request-context.js';
import type { Runtime } from '../runtime.js';
import {
  bearerProblem,
  bearerSecurity,
  bodyProblems,
  emptyResponse,
  INVALID_BODY,
  jsonResponse,
  overloadedProblem,
  passwordChangeBody,
  problem,
  rateLimitedProblem,
  responses,
  sessionParams,
} from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * What any request with a body may get before its handler runs: Fastify parses a JSON body on these
 * routes too (POST, and DELETE with a Content-Type), though they want none.
 */
const unwantedBodyProblems = bodyProblems('the body is not valid JSON.');

export function registerAccountRoutes(
  app: FastifyInstance,
  runtime: Runtime,
  requireBearer: BearerGuard,
): void {
  const { service } = runtime;
  const protectedRoute = (tags: string[], schema: FastifySchema) => ({
    preHandler: requireBearer,
    schema: { tags, security: bearerSecurity, ...schema } as FastifySchema,
  });

  app.get(
    '/api/me',
    protectedRoute(['api'], {
      summary: 'The logged-in user',
      description: "The protected resource: the token's user, with the roles the user has now.",
      response: responses({ 200: jsonResponse('The user.', 'MeResponse'), 401: bearerProblem }),
    }),
    async (request) => {
      const user = await service.getUser(requirePrincipal(request).userId);
      return { id: user.id, email: user.email, roles: user.roles };
    },
  );

  app.post(
    '/auth/logout-all',
    protectedRoute(['sessions'], {
      summary: 'Log out everywhere',
      description:
        "Revokes every session of the token's user, this one included; their access tokens stop " +
        'working at once. The answer deletes the refresh cookie of the browser that asks.',
      response: responses({
        204: emptyResponse(
          'Every session is revoked.',
          clearedRefreshCookieHeader(runtime.config.secureCookies, 'Always'),
        ),
        ...unwantedBodyProblems,
        401: bearerProblem,
      }),
    }),
    async (request, reply) => {
      await service.logoutAll(requirePrincipal(request).userId);
      // Its session is gone too: a browser that kept the cookie would only have its next refresh refused.
      clearRefreshCookie(reply, runtime.config.secureCookies);
      reply.header('cache-control', 'no-store').code(204).send();
    },
  );

  app.get(
    '/auth/sessions',
    protectedRoute(['sessions'], {
      summary: 'List the active sessions',
      description:
        "The token's user's sessions that can still be refreshed; `current` marks the token's own.",
      response: responses({
        200: jsonResponse('The active sessions.', 'SessionsResponse'),
        401: bearerProblem,
      }),
    }),
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const sessions = await service.listSessions(principal.userId);
      reply.header('cache-control', 'no-store');
      return {
        sessions: sessions.map((session) => ({
          id: session.id,
          created_at: iso(session.createdAt),
          last_used_at: iso(session.lastUsedAt),
          user_agent: session.userAgent,
          ip: session.ip,
          current: session.id === principal.sessionId,
        })),
      };
    },
  );

  app.delete(
    '/auth/sessions/:id',
    protectedRoute(['sessions'], {
      summary: 'Revoke a session',
      description: "Revokes one of the token's user's sessions; its access tokens stop working at once.",
      params: sessionParams,
      response: responses({
        204: emptyResponse('The session is revoked.'),
        ...unwantedBodyProblems,
        400: problem(
          '`invalid_request`: an `id` longer than 128 characters or with a NUL character, a URL that is ' +
            'not valid percent-encoding, or a body that is not valid JSON.',
          ['invalid_request'],
        ),
        401: bearerProblem,
        404: problem("`not_found`: no such session, or another user's.", ['not_found']),
      }),
    }),
    async (request, reply) => {
      const { id } = request.params as { id: string };
      await service.revokeSession(requirePrincipal(request).userId, id);
      reply.code(204).send();
    },
  );

  app.post(
    '/auth/password',
    protectedRoute(['account'], {
      summary: 'Change the password',
      description:
        'Changes the password after checking the current one, and revokes every other session of the ' +
        'user; this one stays. Wrong current passwords count toward the same throttle as logins.',
      body: passwordChangeBody,
      response: responses({
        204: emptyResponse('The password is changed; the other sessions are revoked.'),
        ...bodyProblems(`${INVALID_BODY} Also a new password outside 8–1024 characters.`),
        401: bearerProblem,
        403: problem('`invalid_credentials`: the current password is wrong.', ['invalid_credentials']),
        429: rateLimitedProblem,
        503: overloadedProblem,
      }),
    }),
    async (request, reply) => {
      const { current_password, new_password } = request.body as {
        current_password: string;
        new_password: string;
      };
      await service.changePassword(
        requirePrincipal(request),
        current_password,
        new_password,
        clientContext(request),
      );
      reply.code(204).send();
    },
  );
}
