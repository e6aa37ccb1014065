/**
 * The security headers of every response, worked out once at start-up. Helmet decides them; running
 * its middleware per request (as @fastify/helmet does) rebuilt them every time for the same answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

export type SecurityHeaders = Readonly<Record<string, string>>;

export interface SecurityHeaderOptions {
  /** HTTPS deployment: HSTS, and upgrade-insecure-requests in the content security policy. */
  https: boolean;
}

export function securityHeaders({ https }: SecurityHeaderOptions): SecurityHeaders {
  const middleware = helmet({
    // Over plain http (local development) HSTS and upgrade-insecure-requests would only break the page.
    hsts: https,
    contentSecurityPolicy: {
      directives: {
        // The web UI has no inline script or style: Helmet's default policy, minus its inline styles.
        styleSrc: ["'self'"],
        // Helmet's default lets fonts come from any https origin; the UI has none of its own to load.
        fontSrc: ["'self'"],
        upgradeInsecureRequests: https ? [] : null,
      },
    },
  });
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      return recorder;
    },
    // X-Powered-By, which Node never sets and Fastify neither.
    removeHeader() {},
  };
  let failure: unknown = null;
  // Helmet calls `next` synchronously; no directive here depends on the request (no nonces).
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined) failure = error;
  });
  if (failure !== null) throw failure;
  return Object.freeze(headers);
}
