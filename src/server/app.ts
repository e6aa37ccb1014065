/**
 * Builds the Fastify app of one Latchkey instance from its configuration. It never listens: main.ts
 * does that, and tests use `inject()` or listen on port 0.
 */
import { STATUS_CODES } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerOptions,
} from 'fastify';
import { RequestError } from '../errors.js';
import { isAPIPath } from './api-paths.js';
import { createAuthGuard } from './auth-guard.js';
import type { ServerConfig } from './config.js';
import { createCorsHook } from './cors.js';
import {
  type HttpProblem,
  INTERNAL_ERROR,
  toHttpProblem,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
} from './errors.js';
import { registerJsonBody } from './json-body.js';
import { logAuthEvent, loggingOptions } from './logging.js';
import { registerOpenAPI } from './openapi.js';
import { RouteMethods } from './route-methods.js';
import { registerAccountRoutes } from './routes/account.js';
import { registerDiscoveryRoutes } from './routes/discovery.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerHomeRoutes } from './routes/home.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { createRuntime, type Runtime, type RuntimeOptions } from './runtime.js';
import { securityHeaders } from './security-headers.js';
import { validationError } from './validation-message.js';
import { isPagePath, registerWebUI, resolveWebRoot } from './web-ui.js';

declare module 'fastify' {
  interface FastifyInstance {
    latchkey: Runtime;
  }
}

export const BODY_LIMIT_BYTES = 64 * 1024;
/**
 * The whole request, headers and body, must arrive within this: Fastify turns Node's own limit off,
 * and a client that sends headers and then withholds the body would otherwise hold its socket (and
 * a file descriptor) for good. 64 KiB at most takes far less on any working connection.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface BuildAppOptions extends RuntimeOptions {
  /** Pino options or `false`; default: JSON logs at the configured level to stdout. */
  logger?: FastifyServerOptions['logger'];
  /**
   * The built web UI to serve under `/` (a directory with index.html and assets/), or `null` for
   * none. Default: this package's dist/web when it has been built. Without one, `/` is a plain page.
   */
  webRoot?: string | null;
}

/** Fastify's own 4xx errors (body parsing, content type) in the contract's terms. */
function fastifyProblem(error: FastifyError): HttpProblem | null {
  const status = error.statusCode ?? 500;
  if (error.validation !== undefined) {
    return { status: 400, error: 'invalid_request', message: error.message, headers: {} };
  }
  if (status === 413)
    return toHttpProblem(new RequestError('ERR_PAYLOAD_TOO_LARGE', 'request body is larger than 64 KiB'));
  if (status === 415) {
    return toHttpProblem(
      new RequestError('ERR_UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json'),
    );
  }
  if (status >= 400 && status < 500) {
    // JSON parser messages quote the body, which may hold a password: say only what is wrong.
    const message =
      /JSON/i.test(error.message) || error.name === 'SyntaxError'
        ? 'request body is not valid JSON'
        : 'malformed request';
    return toHttpProblem(new RequestError('ERR_BAD_REQUEST', message));
  }
  return null;
}

export async function buildApp(
  config: ServerConfig,
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  // Every answer carries them, also those made before a request exists (the parser's refusals).
  const headers = securityHeaders({ https: config.secureCookies });
  const headerLines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const app = Fastify({
    // Redaction is not optional: a caller's logger options get it too. Fastify's two info lines per
    // request give way to one access-log line at its own level.
    ...loggingOptions(config, options.logger),
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    trustProxy: typeof config.trustProxy === 'object' ? [...config.trustProxy] : config.trustProxy,
    // Strict schemas: no coercion ("[\"a@b.c\"]" is not an email), unknown properties are errors.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
    schemaErrorFormatter: validationError,
    // Refused in the contract's shape instead, by the hook below.
    return503OnClosing: false,
    // What Node's HTTP parser refuses never becomes a request (headers over 16 KiB, a request line
    // that is not HTTP, a request that stalls): answer it in the contract's shape, not Fastify's.
    clientErrorHandler: (error, socket) => {
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      const problem = toHttpProblem(clientRequestError(error)) as HttpProblem;
      const body = JSON.stringify({ error: problem.error, message: problem.message });
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/json\r\n` +
            `${headerLines}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(error);
    },
    // A URL that is not valid percent-encoding never reaches the error handler: answer it in the
    // contract's shape rather than with Fastify's own body (which also echoes the URL).
    frameworkErrors: (error, _request, reply) => {
      const problem =
        (error.statusCode ?? 500) < 500
          ? toHttpProblem(new RequestError('ERR_BAD_REQUEST', 'the request URL is malformed'))
          : null;
      const { status, error: code, message } = problem ?? INTERNAL_ERROR;
      (reply as FastifyReply).headers(headers).code(status).send({ error: code, message });
    },
  });
  // Security events go to the log; they carry ids, never secrets.
  const runtime = await createRuntime(config, {
    ...options,
    onBackgroundError: (task, error) => {
      app.log.error({ task, err: error }, 'background work failed; retrying on its next tick');
      options.onBackgroundError?.(task, error);
    },
    onEvent: (event) => {
      logAuthEvent(app.log, event);
      options.onEvent?.(event);
    },
    onRedisAvailabilityChange: (available, reason) => {
      if (available) app.log.info('Redis is back: counters and fan-out use it again');
      else app.log.warn({ reason }, 'Redis is unavailable: counting in the database until it is back');
      options.onRedisAvailabilityChange?.(available, reason);
    },
  });
  app.decorate('latchkey', runtime);
  app.decorateRequest('principal', null);
  // Before any route is added, so that it knows them all (for 405 in the not-found handler).
  const routeMethods = new RouteMethods();
  app.addHook('onRoute', (route) => routeMethods.add(route.method, route.url));
  app.addHook('onClose', async () => runtime.close());

  // Only JSON bodies: a text/plain POST is a 415, not a string handed to a route.
  app.removeContentTypeParser('text/plain');
  registerJsonBody(app);

  // From the start of close(), what still arrives on an open connection is refused, so that a proxy
  // retries it on another instance; the connection is closed after the answer.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    if (closing) {
      reply
        .code(503)
        .header('connection', 'close')
        .header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS))
        .send({ error: 'unavailable', message: 'this instance is shutting down; try another' });
      return;
    }
    done();
  });
  await app.register(fastifyCookie);
  // Before any route runs, so preflights never reach the not-found handler and every answer of an
  // API path (errors included) carries the CORS headers its origin should see.
  app.addHook('onRequest', createCorsHook(config.allowedOrigins));
  await registerOpenAPI(app, config);

  app.addHook('onResponse', (request, reply, done) => {
    runtime.metrics.observeRequest(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toHttpProblem(error) ?? fastifyProblem(error);
    if (problem === null) {
      request.log.error({ err: error }, 'request failed');
      reply.code(500).send({ error: INTERNAL_ERROR.error, message: INTERNAL_ERROR.message });
      return;
    }
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    else
      request.log.info(
        { code: (error as { code?: string }).code, status: problem.status },
        'request refused',
      );
    reply
      .code(problem.status)
      .headers(problem.headers)
      .send({ error: problem.error, message: problem.message });
  });

  const webRoot = resolveWebRoot(options.webRoot);
  const sendIndex = webRoot === null ? null : await registerWebUI(app, webRoot);

  app.setNotFoundHandler((request, reply) => {
    const allowed = routeMethods.allowed(request.url);
    if (allowed.length > 0) {
      reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({ error: 'method_not_allowed', message: `${request.method} is not allowed here` });
      return;
    }
    if (isAPIPath(request.url) || (request.method !== 'GET' && request.method !== 'HEAD')) {
      reply.code(404).send({ error: 'not_found', message: 'no such route' });
      return;
    }
    // Everything else belongs to the web UI, which routes in the page (/login, /dashboard, …): but not
    // a missing file (an old asset, /favicon.ico) nor an operations path with a trailing slash, which
    // must not look like a healthy 200.
    if (sendIndex !== null && isPagePath(request.url)) {
      sendIndex(reply);
      return;
    }
    reply
      .code(404)
      .type('text/html; charset=utf-8')
      .send('<!doctype html><title>Not found</title><p>Not found. <a href="/">Latchkey</a>');
  });

  const requireBearer = createAuthGuard(runtime.service);
  registerHomeRoutes(app, runtime, webRoot === null);
  registerTokenRoutes(app, runtime);
  registerAccountRoutes(app, runtime, requireBearer);
  registerDiscoveryRoutes(app, runtime);
  registerHealthRoutes(app, runtime);
  await app.ready();
  return app;
}

/** @internal The `RequestError` for an error of Node's HTTP parser. */
export function clientRequestError(error: Error): RequestError {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'HPE_HEADER_OVERFLOW':
      return new RequestError('ERR_HEADERS_TOO_LARGE', 'the request headers are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RequestError('ERR_REQUEST_TIMEOUT', 'the request did not arrive in time');
    default:
      return new RequestError('ERR_BAD_REQUEST', 'the request is not valid HTTP');
  }
}
