/** Routes of a logged-in user (Bearer): the protected /api/me, sessions, password, logout everywhere. */
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { BearerGuard } from '../auth-guard.js';
import { clientContext, requirePrincipal } from '../request-context.js';
import type { Runtime } from '../runtime.js';
import {
  bearerSecurity,
  errors,
  meResponse,
  passwordChangeBody,
  sessionParams,
  sessionsResponse,
} from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();
const noContent = { type: 'null' } as const;

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
    protectedRoute(['api'], { response: { 200: meResponse, ...errors(401) } }),
    async (request) => {
      const user = await service.getUser(requirePrincipal(request).userId);
      return { id: user.id, email: user.email, roles: user.roles };
    },
  );

  app.post(
    '/auth/logout-all',
    protectedRoute(['sessions'], { response: { 204: noContent, ...errors(401) } }),
    async (request, reply) => {
      await service.logoutAll(requirePrincipal(request).userId);
      reply.code(204).send();
    },
  );

  app.get(
    '/auth/sessions',
    protectedRoute(['sessions'], { response: { 200: sessionsResponse, ...errors(401) } }),
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
      params: sessionParams,
      response: { 204: noContent, ...errors(401, 404) },
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
      body: passwordChangeBody,
      response: { 204: noContent, ...errors(400, 401, 403, 429) },
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
