/**
 * The page at `/` when the web UI is not built (a server installed without its dev dependencies),
 * and the API description generated from the route schemas.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';
import { jsonResponse, responses } from '../schemas.js';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}\n' +
  'code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}li{margin:.3rem 0}';

/** The CSP source of the page's one inline style: the policy allows it by hash, nothing else inline. */
export const HOME_STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

export function homePage(issuer: string): string {
  const base = escapeHtml(issuer);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latchkey</title>
<style>${STYLE}</style></head>
<body>
<h1>Latchkey</h1>
<p>A self-hostable, stateless JWT authentication server. Users register and log in with email and
password; the server answers with a short-lived signed access token (JWT) and a rotating refresh token.
Any service verifies access tokens locally against this server's published keys.</p>
<ul>
<li><a href="/openapi.json">API description</a> (OpenAPI 3, generated from the validated schemas)</li>
<li><a href="/.well-known/jwks.json">Signing keys</a> (JWKS) and <a href="/.well-known/openid-configuration">discovery document</a></li>
<li><a href="/healthz">Liveness</a>, <a href="/readyz">readiness</a>, <a href="/metrics">metrics</a></li>
</ul>
<p>Issuer: <code>${base}</code></p>
<p>The web UI (log in, dashboard, token inspector) is not built on this server. Build it with
<code>npm install</code> (with dev dependencies: it needs Vite) or <code>npm run build</code>, then restart.</p>
</body></html>
`;
}

/** `/openapi.json`, and `/` itself when `withHomePage` (no built web UI to serve it). */
export function registerHomeRoutes(app: FastifyInstance, runtime: Runtime, withHomePage: boolean): void {
  if (withHomePage) {
    const page = homePage(runtime.config.issuer);
    app.get('/', { schema: { hide: true } }, async (_request, reply) => {
      const policy = reply.getHeader('content-security-policy');
      reply.type('text/html; charset=utf-8');
      if (typeof policy === 'string') {
        reply.header('content-security-policy', policy.replace(/style-src [^;]*/, `$& ${HOME_STYLE_SOURCE}`));
      }
      return page;
    });
  }
  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['discovery'],
        summary: 'This API description',
        response: responses({
          200: jsonResponse('The OpenAPI 3.0 document.', {
            type: 'object',
            required: ['openapi', 'info', 'paths'],
            additionalProperties: true,
          }),
        }),
      },
    },
    async () => app.swagger(),
  );
}
