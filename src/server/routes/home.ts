/** The page at `/` until the web UI lands, and the API description generated from the route schemas. */
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

export function homePage(issuer: string): string {
  const base = escapeHtml(issuer);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latchkey</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}li{margin:.3rem 0}</style></head>
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
</body></html>
`;
}

export function registerHomeRoutes(app: FastifyInstance, runtime: Runtime): void {
  const page = homePage(runtime.config.issuer);
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    reply.type('text/html; charset=utf-8');
    return page;
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
