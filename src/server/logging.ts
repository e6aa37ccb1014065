/**
 * What an instance writes to its log, and what it never writes. Every line is built from fields that
 * hold no secret: the access log carries the path without its query, never a header or a body, and
 * auth events carry ids and reasons. Redaction by exact paths stays as a net under careless log calls;
 * pino's wildcard paths cost tens of microseconds on every line and guarded nothing we log.
 */
import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import pino from 'pino';
import type { AuthEvent } from '../auth/service.js';
import type { AccessLogLevel, ServerConfig } from './config.js';
import { stdoutFailed } from './standard-streams.js';

/** Credential fields of the bodies we take and give. */
const SECRET_FIELDS = [
  'password',
  'current_password',
  'new_password',
  'refresh_token',
  'access_token',
  'token',
];

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  // A body handed to a log call on its own, or inside a request.
  ...SECRET_FIELDS.flatMap((field) => [field, `body.${field}`, `req.body.${field}`]),
];

/** pino's numbers for its levels: a line is written when its level's number is at least the logger's. */
const LEVEL_VALUES: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

/**
 * Where the log goes when the caller names no destination: stdout, written synchronously, each line
 * before the log call returns. pino's default destination is asynchronous, and that does not survive
 * a stdout whose reader went away: a failed write is only learnt of later, and if the process exits
 * before (SIGTERM, a crash), pino's exit hook flushes the lines still queued with sonic-boom's
 * `flushSync`, which retries every failed write, EPIPE included, every 100 ms, forever. Here EPIPE
 * surfaces inside the log call, pino turns the destination into a no-op at once (the server serves
 * on, without its log), there is no exit hook, and no line is held in memory to be lost in a crash.
 * The price is one write(2) on the event loop per line.
 */
export function stdoutDestination(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: true });
  destination.on('error', (error: unknown) => {
    // Only lines whose write failed can wait in a synchronous destination: fatal() would flush them,
    // retrying forever while the failure lasts.
    destination.flushSync = () => {};
    // pino drops every line after EPIPE, but only while its own listener is there, and a failure of
    // another kind removes it: the failed lines would then pile up in memory, retried on each write.
    if ((error as NodeJS.ErrnoException | null)?.code === 'EPIPE') destination.write = () => true;
    stdoutFailed(error);
  });
  return destination;
}

/**
 * Fastify's logger and request-logging options: the configured level (a caller's logger options may
 * change it, but never drop the redaction) and the access log at its level.
 */
export function loggingOptions(
  config: Pick<ServerConfig, 'logLevel' | 'accessLogLevel'>,
  custom: FastifyServerOptions['logger'] | undefined,
): Pick<FastifyServerOptions, 'logger' | 'logController'> {
  if (custom === false) return { logger: false, logController: new AccessLog('off') };
  const options = typeof custom === 'object' ? custom : {};
  const level = options.level ?? config.logLevel;
  const access = config.accessLogLevel;
  const destination =
    'stream' in options || 'file' in options || 'transport' in options ? {} : { stream: stdoutDestination() };
  return {
    logger: { level, ...destination, ...options, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    logController: new AccessLog(
      access !== 'off' && (LEVEL_VALUES[access] ?? 0) >= (LEVEL_VALUES[level] ?? 0) ? access : 'off',
    ),
  };
}

/**
 * Fastify's request logging, with one line per answered request at `level` (instead of two at info):
 * method, path, route, status, time, client address. Failures of a response are logged as before.
 */
class AccessLog extends LogController {
  /** Off also when the logger would drop the line: then not even its fields are gathered. */
  readonly #level: AccessLogLevel;

  constructor(level: AccessLogLevel) {
    super();
    this.#level = level;
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) {
      super.requestCompleted(error, request, reply);
      return;
    }
    const level = this.#level;
    if (level === 'off') return;
    request.log[level](
      {
        method: request.method,
        path: loggablePath(request.url),
        route: request.routeOptions.url ?? null,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ip: request.ip,
      },
      'request',
    );
  }
}

/**
 * The request target as the access log keeps it: a query or fragment may carry what a careless client
 * put there (a token), and an absolute-form target (`http://user:pass@host/path`) credentials; the
 * path alone never does here.
 */
export function loggablePath(target: string): string {
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  if (path.startsWith('/')) return path;
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  return origin === null ? path : path.slice(origin[0].length) || '/';
}

/** Security events, for an audit trail: who logged in, what was refused and revoked, and why. */
export function logAuthEvent(log: FastifyBaseLogger, event: AuthEvent): void {
  switch (event.type) {
    case 'refresh_reuse_detected':
      log.warn(
        { event: event.type, sid: event.sessionId, userId: event.userId },
        'refresh token reuse: session revoked',
      );
      break;
    case 'login_succeeded':
      log.info({ event: event.type, userId: event.userId, sid: event.sessionId }, 'login');
      break;
    case 'login_failed':
      log.info({ event: event.type, reason: event.reason }, 'login failed');
      break;
    case 'login_throttled':
    case 'registration_throttled':
      log.info({ event: event.type, retryAfterSeconds: event.retryAfterSeconds }, 'throttled');
      break;
    case 'sessions_revoked':
      log.info({ event: event.type, reason: event.reason, sids: event.sessionIds }, 'sessions revoked');
      break;
    case 'password_changed':
      log.info({ event: event.type, userId: event.userId }, 'password changed');
      break;
    case 'registered':
      log.info({ event: event.type, userId: event.userId }, 'account registered');
      break;
    case 'refreshed':
    case 'refresh_rejected':
      // As frequent as requests: the access log has them, at its level.
      break;
  }
}
