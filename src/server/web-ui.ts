/**
 * The web UI (web/, built by `npm install` into dist/web) as static files: hashed assets under
 * /assets/ cached for a year, index.html never cached, and every other UI path (/login, /dashboard,
 * /inspect …) answered with index.html, whose script routes in the page. Without a build, `/` is a
 * plain page that says how to make one (routes/home.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** dist/web of this package: src/server/ and dist/server/ are both two levels below the root. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web', import.meta.url));

const IMMUTABLE = 'public, max-age=31536000, immutable';
const NO_CACHE = 'no-cache';

/** The directory to serve, or null when it holds no built UI. */
/** A path the page's router may own: no file name, no assets folder, no operations endpoint. */
export function isPagePath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  if (path.startsWith('/assets/') || /\.[A-Za-z0-9]+$/.test(path)) return false;
  return !/^\/(healthz|readyz|metrics|openapi\.json)(\/|$)/.test(path);
}

export function resolveWebRoot(webRoot: string | null | undefined): string | null {
  const root = webRoot === undefined ? DEFAULT_WEB_ROOT : webRoot;
  return root !== null && existsSync(join(root, 'index.html')) ? root : null;
}

/** Serves the built UI from `root`; returns what answers an unknown UI path (index.html, 200). */
export async function registerWebUI(
  app: FastifyInstance,
  root: string,
): Promise<(reply: FastifyReply) => FastifyReply> {
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // One route per built file, found at start: no wildcard route competing with the API paths.
    wildcard: false,
    index: ['index.html'],
    dotfiles: 'ignore',
    cacheControl: false,
    setHeaders: (reply, path) => {
      // Vite names every file under assets/ by its content hash: a changed file is a new URL.
      const immutable = path.startsWith(join(root, 'assets'));
      reply.header('cache-control', immutable ? IMMUTABLE : NO_CACHE);
    },
  });
  return (reply) => reply.code(200).sendFile('index.html');
}
