/** Registration, login, refresh and logout: the routes that hand out or end refresh tokens. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedTokens, Principal } from '../../auth/service.js';
import { AuthError } from '../../errors.js';
import {
  clearedRefreshCookieHeader,
  clearRefreshCookie,
  REFRESH_COOKIE,
  refreshCookieAttributes,
  refreshCookieOptions,
} from '../cookies.js';
import { requireSameOrigin } from '../csrf.js';
import type { DocumentedParameter } from '../openapi.js';
import { bearerToken, clientContext } from '../request-context.js';
import type { Runtime } from '../runtime.js';
import {
  bodyProblems,
  credentialsBody,
  emptyResponse,
  INVALID_BODY,
  jsonResponse,
  loginBody,
  overloadedProblem,
  problem,
  RETRY_AFTER,
  type ResponseHeaders,
  rateLimitedProblem,
  refreshBody,
  responses,
} from '../schemas.js';

/** Cookie requests have no body at all; the schema still applies to any body that is sent. */
async function optionalBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}

interface Credentials {
  email: string;
  password: string;
}

/**
 * What the API description says about the refresh cookie and the CSRF check of the requests it
 * authenticates (csrf.ts), in the terms of this configuration: its allowed origins, its cookie attributes.
 */
function describeCookieMode(secureCookies: boolean, allowedOrigins: readonly string[]) {
  const attributes = refreshCookieAttributes(secureCookies);
  const origins = allowedOrigins.map((origin) => `\`${origin}\``).join(', ');
  const setsCookie: ResponseHeaders = {
    'Set-Cookie': {
      type: 'string',
      description:
        `When the refresh token goes to the cookie: \`${REFRESH_COOKIE}=<refresh token>; ` +
        `Max-Age=<seconds until the session's idle end>; ${attributes}\`.`,
    },
  };
  const clearsCookie = (when: string) => clearedRefreshCookieHeader(secureCookies, when);
  const parameters: DocumentedParameter[] = [
    {
      in: 'cookie',
      name: REFRESH_COOKIE,
      required: false,
      description:
        'The refresh token, read when the body has no `refresh_token`. /auth/login (unless ' +
        '`refresh_in` is `"body"`) and /auth/refresh set it with ' +
        `\`${attributes}\`: the browser sends it to /auth/… only, and no script can read it.`,
      schema: { type: 'string' },
    },
    {
      in: 'header',
      name: 'Origin',
      required: false,
      description:
        `Checked when the refresh token comes from the cookie: it must be exactly one of ${origins} ` +
        '(`LATCHKEY_ALLOWED_ORIGINS`), or the answer is 403 `csrf_rejected`. Browsers send it with every POST.',
      schema: { type: 'string' },
    },
    {
      in: 'header',
      name: 'Sec-Fetch-Site',
      required: false,
      description:
        'Checked when the refresh token comes from the cookie and the request has no `Origin`: it must ' +
        'be `same-origin`, or the answer is 403 `csrf_rejected`, as it is for a cookie request with neither header.',
      schema: { type: 'string' },
    },
  ];
  return {
    setsCookie,
    clearsCookie,
    parameters,
    originRule:
      'A request whose refresh token comes from the cookie must pass a CSRF check: its `Origin` must be ' +
      `one of the allowed origins (${origins}), or, without an \`Origin\`, it must carry ` +
      '`Sec-Fetch-Site: same-origin`; otherwise it gets 403 `csrf_rejected` and the cookie stays as it ' +
      'is. A request with `refresh_token` in its body is not checked: non-browser clients use the body.',
    csrfRejected: problem(
      '`csrf_rejected`: the refresh token came from the cookie, and the request came from an origin that ' +
        'is not allowed, or carried neither `Origin` nor `Sec-Fetch-Site: same-origin`.',
      ['csrf_rejected'],
    ),
  };
}

export function registerTokenRoutes(app: FastifyInstance, runtime: Runtime): void {
  const { service, config } = runtime;
  const cookieMode = describeCookieMode(config.secureCookies, config.allowedOrigins);

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

  const clearCookie = (reply: FastifyReply) => clearRefreshCookie(reply, config.secureCookies);

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
        summary: 'Create an account',
        description:
          'Creates an account for an email and a password of 8 to 1024 characters. It starts no session: ' +
          'log in next. At most 20 registrations an hour come from one address.',
        body: credentialsBody,
        response: responses({
          201: jsonResponse('The new account.', 'UserResponse'),
          ...bodyProblems(
            `${INVALID_BODY} Also an email that is not an address, or a password outside 8–1024 characters.`,
          ),
          409: problem('`email_taken`: an account with this email exists.', ['email_taken']),
          429: problem(
            '`rate_limited`: too many registrations from this address.',
            ['rate_limited'],
            RETRY_AFTER,
          ),
          503: overloadedProblem,
        }),
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
        summary: 'Log in',
        description:
          'Checks the email and password and starts a session: an access token, and a refresh token in ' +
          'the `latchkey_refresh` cookie (the default) or, with `refresh_in: "body"`, in the body. An ' +
          'unknown email and a wrong password get the same answer. A throttled login gets 429 before ' +
          'the password is checked, even a right one.',
        body: loginBody,
        response: responses({
          200: jsonResponse(
            'The session has begun. `refresh_token` is in the body only with `refresh_in: "body"`.',
            'TokenResponse',
            cookieMode.setsCookie,
          ),
          ...bodyProblems(INVALID_BODY),
          401: problem(
            '`invalid_credentials`: an unknown email, a wrong password or a disabled account: one answer for all.',
            ['invalid_credentials'],
          ),
          429: rateLimitedProblem,
          503: overloadedProblem,
        }),
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
      config: { openapi: { parameters: cookieMode.parameters, bodyOptional: true } },
      schema: {
        tags: ['auth'],
        summary: 'Rotate the refresh token',
        description:
          'Exchanges a refresh token for a new access token and a new refresh token. The old one stops ' +
          'working; presented again after a short grace window, it revokes the whole session. The token ' +
          "comes from the body's `refresh_token` when there is one, otherwise from the `latchkey_refresh` " +
          `cookie, and the new one goes back the same way. ${cookieMode.originRule}`,
        body: refreshBody,
        response: responses({
          200: jsonResponse(
            'The rotated tokens. `refresh_token` is in the body only when the old one came in the body.',
            'TokenResponse',
            cookieMode.setsCookie,
          ),
          ...bodyProblems(INVALID_BODY),
          401: problem(
            '`invalid_grant`: no refresh token, or one that is unknown, expired, revoked, reused after ' +
              'rotation, or not a refresh token at all (an access token, say). Log in again.',
            ['invalid_grant'],
            cookieMode.clearsCookie('When the refresh token came from the cookie'),
          ),
          403: cookieMode.csrfRejected,
        }),
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
      config: { openapi: { parameters: cookieMode.parameters, bodyOptional: true } },
      schema: {
        tags: ['auth'],
        summary: 'Log out',
        description:
          "Ends one session and deletes the cookie: the session of the body's `refresh_token` if there is " +
          'one, else of the `latchkey_refresh` cookie, else of the Bearer access token if the request has ' +
          'a valid one. A token that is unknown, expired or already revoked is no error: there is nothing ' +
          `left to end. ${cookieMode.originRule}`,
        // The Bearer token is optional: one of three ways to name the session.
        security: [{}, { bearerAuth: [] }],
        body: refreshBody,
        response: responses({
          204: emptyResponse('Logged out, or there was nothing to end.', cookieMode.clearsCookie('Always')),
          ...bodyProblems(INVALID_BODY),
          403: cookieMode.csrfRejected,
        }),
      },
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
