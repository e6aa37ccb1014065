/**
 * The API description at /openapi.json. @fastify/swagger generates it from the route schemas, the
 * same ones Fastify validates requests and serializes responses with, so it cannot promise a body the
 * server refuses or leave out a property the server sends. What a schema cannot say, a route states
 * in `config.openapi`: the cookie and headers it reads itself, and a body it lets a client leave out.
 */
import fastifySwagger, { formatParamUrl } from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from './config.js';
import { documentedForm, SHARED_SCHEMAS } from './schemas.js';

/** A cookie or header a route reads itself: Fastify neither parses nor validates it against a schema. */
export interface DocumentedParameter {
  in: 'cookie' | 'header';
  name: string;
  required: boolean;
  description: string;
  schema: { type: 'string' };
}

/** What the API description says about a route beyond its schema. */
export interface OperationNotes {
  parameters?: readonly DocumentedParameter[];
  /**
   * The route accepts a request without a body (a preValidation hook stands in `{}`): @fastify/swagger
   * marks every request body required, since Fastify itself would refuse a missing one.
   */
  bodyOptional?: true;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    openapi?: OperationNotes;
  }
}

const DESCRIPTION = `A self-hostable, stateless JWT authentication server.

**Errors.** Every error is JSON \`{"error": "<code>", "message": "<text for a person>"}\`; each answer lists
the codes it can carry. Some answers come before any route is chosen: \`404 not_found\` for a request no
route takes (but a \`GET\` outside \`/auth/\`, \`/api/\` and \`/.well-known/\` belongs to the web UI),
\`400 invalid_request\` for a request that is not valid HTTP, \`408 request_timeout\` for one that does not
arrive in time, and \`431 headers_too_large\` for headers over 16 KiB.

**Tokens.** \`POST /auth/login\` answers with a short-lived access token (a JWT, sent as
\`Authorization: Bearer …\` to protected routes) and a refresh token: by default only in the HttpOnly
cookie \`latchkey_refresh\`, or in the body with \`refresh_in: "body"\`. A request that \`/auth/refresh\` or
\`/auth/logout\` authenticates by that cookie must come from an allowed origin (its \`Origin\` header, or
\`Sec-Fetch-Site: same-origin\` without one), or it is refused with \`403 csrf_rejected\`.

**CORS.** The paths under \`/auth/\`, \`/api/\` and \`/.well-known/\` answer browser pages on the allowed
origins (\`LATCHKEY_ALLOWED_ORIGINS\`) with CORS headers and credentials; a preflight (\`OPTIONS\`) from
another origin gets \`403 origin_not_allowed\`.

Every \`GET\` also answers \`HEAD\`.`;

const TAGS = [
  {
    name: 'auth',
    description: 'Registration, login, and the refresh token: hand it out, rotate it, end it.',
  },
  { name: 'sessions', description: "A logged-in user's sessions (one per login, kept across refreshes)." },
  { name: 'account', description: "A logged-in user's account." },
  { name: 'api', description: 'The protected resource.' },
  { name: 'discovery', description: 'What resource servers and clients read: keys, metadata, revocations.' },
  { name: 'operations', description: 'Liveness, readiness and metrics for the people who run the server.' },
];

interface DocumentedRoute {
  method: string;
  url: string;
  notes: OperationNotes;
}

/** The parts of an OpenAPI operation the notes touch. */
interface Operation {
  parameters?: unknown[];
  requestBody?: { required?: boolean };
}

type Paths = Record<string, Record<string, Operation | undefined> | undefined>;

/**
 * Registers @fastify/swagger: the routes registered after this call are described (but those with
 * `schema.hide`, and the HEAD twins of GET routes), and `app.swagger()` returns the document.
 */
export async function registerOpenAPI(app: FastifyInstance, config: ServerConfig): Promise<void> {
  const documented: DocumentedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const notes = route.config?.openapi;
    if (notes === undefined) return;
    for (const method of [route.method].flat()) documented.push({ method, url: route.url, notes });
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Latchkey', version: '0.1.0', description: DESCRIPTION },
      servers: [{ url: config.issuer }],
      tags: TAGS,
      components: {
        // JSON Schema, as Fastify takes it: @fastify/swagger converts it to OpenAPI 3.0's dialect.
        schemas: SHARED_SCHEMAS as never,
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An access token from /auth/login or /auth/refresh.',
          },
        },
      },
    },
    // A response shows its schema as schemas.ts documents it: a shared one by reference.
    transform: ({ schema, url }) => {
      const response = schema?.response as Record<string, object> | undefined;
      if (response === undefined) return { schema, url };
      const shown = Object.fromEntries(
        Object.entries(response).map(([status, answer]) => [status, documentedForm(answer)]),
      );
      return { schema: { ...schema, response: shown }, url };
    },
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      const paths = (document.openapiObject.paths ?? {}) as Paths;
      for (const { method, url, notes } of documented) {
        const operation = paths[formatParamUrl(url)]?.[method.toLowerCase()];
        if (operation === undefined) continue;
        if (notes.parameters !== undefined) {
          operation.parameters = [...(operation.parameters ?? []), ...notes.parameters];
        }
        if (notes.bodyOptional === true && operation.requestBody !== undefined) {
          operation.requestBody.required = false;
        }
      }
      return document.openapiObject;
    },
  });
}
