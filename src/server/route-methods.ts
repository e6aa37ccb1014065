/**
 * The methods each route path answers, so that a path that exists, asked with a method it does not
 * take (`PUT /auth/login`), gets 405 with `Allow` (RFC 9110 §15.5.6) rather than a 404 saying there is
 * no such path. Filled from Fastify's `onRoute`, so it can never disagree with the routes.
 */
import { pathSegments } from './api-paths.js';

/** A route path's segments: a literal, or a parameter (`:id`) that takes any one segment. */
type Segment = string | null;

export class RouteMethods {
  /** By the path with every parameter written `:`, so that `/a/:id` and `/a/:name` are one path. */
  readonly #routes = new Map<string, { segments: Segment[]; methods: Set<string> }>();

  /** A route as Fastify registers it: one method or several, a path with `:name` parameters. */
  add(methods: string | readonly string[], path: string): void {
    const segments = pathSegments(path).map((segment) => (segment.startsWith(':') ? null : segment));
    const key = segments.map((segment) => segment ?? ':').join('/');
    let route = this.#routes.get(key);
    if (route === undefined) {
      route = { segments, methods: new Set() };
      this.#routes.set(key, route);
    }
    for (const method of typeof methods === 'string' ? [methods] : methods) {
      route.methods.add(method.toUpperCase());
      // Fastify answers HEAD wherever it answers GET.
      if (method.toUpperCase() === 'GET') route.methods.add('HEAD');
    }
  }

  /**
   * The methods a request-target is answered with (read as the router reads it: api-paths.ts),
   * sorted; empty when no route has its path.
   */
  allowed(url: string): string[] {
    const requested = pathSegments(url);
    const methods = new Set<string>();
    for (const route of this.#routes.values()) {
      if (route.segments.length !== requested.length) continue;
      const matches = route.segments.every((segment, index) => {
        const part = requested[index] as string;
        return segment === null ? part !== '' : segment === part;
      });
      if (matches) for (const method of route.methods) methods.add(method);
    }
    return [...methods].sort();
  }
}
