/**
 * The page's one Latchkey client, and the record of every request it makes for the flow view. The
 * client gets a wrapping `fetch`: the record is what actually went over the wire (method, path,
 * status, whether an Authorization header travelled), never anything read from cookies, which the
 * page cannot see. The access token lives in memory only, here and in the client.
 */
import { createClient, type LatchkeyClient } from '../../src/client/index.js';

export type Party = 'Browser' | 'Latchkey' | 'API';

export interface FlowEntry {
  id: number;
  at: number;
  method: string;
  path: string;
  /** Who answered: Latchkey for /auth and /.well-known, the API for /api. */
  to: Party;
  /** HTTP status, or 0 when no answer came. */
  status: number;
  /** What went with the request, in words. */
  sent: string[];
  /** What came back, in words. */
  received: string[];
}

type Listener = () => void;

class FlowLog {
  #entries: FlowEntry[] = [];
  #listeners = new Set<Listener>();
  #nextId = 1;
  /** The access token of the latest login or refresh answer (memory only). */
  accessToken: string | null = null;

  get entries(): readonly FlowEntry[] {
    return this.#entries;
  }

  add(entry: Omit<FlowEntry, 'id'>): void {
    this.#entries = [...this.#entries.slice(-49), { ...entry, id: this.#nextId++ }];
    this.#notify();
  }

  clear(): void {
    this.#entries = [];
    this.#notify();
  }

  setToken(token: string | null): void {
    this.accessToken = token;
    this.#notify();
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}

export const flow = new FlowLog();

const COOKIE_PATHS = new Set(['/auth/refresh', '/auth/logout']);
const TOKEN_PATHS = new Set(['/auth/login', '/auth/refresh']);

function describeSent(request: Request, path: string): string[] {
  const sent: string[] = [];
  const authorization = request.headers.get('authorization');
  if (authorization?.startsWith('Bearer ')) sent.push('access token in Authorization: Bearer');
  if (path === '/auth/login') sent.push('email and password (JSON body)');
  else if (path === '/auth/register') sent.push('email and new password (JSON body)');
  else if (path === '/auth/password') sent.push('current and new password (JSON body)');
  // The browser attaches the HttpOnly cookie (Path=/auth) by itself; the page never reads it.
  if (COOKIE_PATHS.has(path)) sent.push('refresh token in the HttpOnly cookie (the browser adds it)');
  if (sent.length === 0) sent.push('nothing secret');
  return sent;
}

async function describeReceived(response: Response, path: string): Promise<string[]> {
  if (response.status === 204) {
    return path === '/auth/logout' ? ['204: cookie cleared (Set-Cookie, unseen by the page)'] : ['204: done'];
  }
  if (!response.ok) {
    try {
      const body = (await response.clone().json()) as { error?: unknown };
      if (typeof body.error === 'string') {
        const wait = response.headers.get('retry-after');
        const why =
          path === '/auth/refresh' && body.error === 'invalid_grant'
            ? ': no session to resume (no cookie, or its session ended)'
            : '';
        return [`error ${body.error}${why}${wait === null ? '' : `, retry after ${wait} s`}`];
      }
    } catch {
      // Not JSON: the status is the story.
    }
    return [`error ${response.status}`];
  }
  if (TOKEN_PATHS.has(path)) {
    try {
      const body = (await response.clone().json()) as { access_token?: unknown };
      if (typeof body.access_token === 'string') flow.setToken(body.access_token);
    } catch {
      // The client reports a bad body itself.
    }
    return [
      'new access token (JSON body, kept in memory)',
      'new refresh token in Set-Cookie, HttpOnly (the page never sees it)',
    ];
  }
  if (path === '/api/me') return ['who you are (JSON)'];
  if (path === '/auth/sessions') return ['your sessions (JSON)'];
  return ['JSON'];
}

/** fetch, recorded: the request as sent and what came back, in words. */
const recordingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const url = new URL(request.url);
  const path = url.pathname;
  const entry = {
    at: Date.now(),
    method: request.method,
    path,
    to: (path.startsWith('/api/') ? 'API' : 'Latchkey') as Party,
    sent: describeSent(request, path),
  };
  let response: Response;
  try {
    response = await fetch(request);
  } catch (error) {
    flow.add({ ...entry, status: 0, received: ['no answer (network error)'] });
    throw error;
  }
  flow.add({ ...entry, status: response.status, received: await describeReceived(response, path) });
  if (path === '/auth/logout' || path === '/auth/logout-all') flow.setToken(null);
  return response;
};

/** What Log in says after the next logout this page asks for (set just before asking). */
export const logoutNotice: { next: string | null } = { next: null };

export const client: LatchkeyClient = createClient({ baseUrl: location.origin, fetch: recordingFetch });
client.on('sessionExpired', () => flow.setToken(null));
client.on('loggedOut', () => flow.setToken(null));
