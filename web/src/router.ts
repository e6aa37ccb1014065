/** A few routes, in the page: the server answers every UI path with index.html. */
import { useEffect, useState } from 'preact/hooks';

export type Route = '/login' | '/register' | '/dashboard' | '/inspect' | 'not-found';

export const ROUTES: readonly Route[] = ['/login', '/register', '/dashboard', '/inspect'];

/** Where the pages send people; `/` is the Dashboard. */
export function routeOf(pathname: string): Route {
  if (pathname === '/' || pathname === '') return '/dashboard';
  const path = pathname.replace(/\/+$/, '');
  return (ROUTES as readonly string[]).includes(path) ? (path as Route) : 'not-found';
}

/**
 * A path of this origin to return to after logging in; anything else becomes the Dashboard. Parsed
 * as the browser will parse it (which drops tabs and newlines, so "/\t/evil.example" is "//evil…"),
 * then kept only if it stays on this origin.
 */
export function safeNext(value: string | null): string {
  if (value === null || !value.startsWith('/')) return '/dashboard';
  let url: URL;
  try {
    url = new URL(value, location.origin);
  } catch {
    return '/dashboard';
  }
  if (url.origin !== location.origin) return '/dashboard';
  return `${url.pathname}${url.search}${url.hash}`;
}

const listeners = new Set<() => void>();

/** Changes the page without a reload; state goes along (a message for the next page). */
export function navigate(to: string, state: Record<string, string> | null = null, replace = false): void {
  if (replace) history.replaceState(state, '', to);
  else history.pushState(state, '', to);
  window.scrollTo(0, 0);
  for (const listener of listeners) listener();
}

export interface Location {
  route: Route;
  pathname: string;
  search: URLSearchParams;
  state: Record<string, string> | null;
}

function current(): Location {
  return {
    route: routeOf(location.pathname),
    pathname: location.pathname,
    search: new URLSearchParams(location.search),
    state: (history.state as Record<string, string> | null) ?? null,
  };
}

export function useLocation(): Location {
  const [value, setValue] = useState(current);
  useEffect(() => {
    const update = () => setValue(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return value;
}

/** A link that changes the page in place (with a real href, so it works as a link too). */
export function onLinkClick(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (anchor.origin !== location.origin) return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}
