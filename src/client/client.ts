/**
 * The Latchkey client for browsers and Node: login and the account calls, the access token in memory
 * only, and `authFetch`, which attaches the token, renews it ahead of expiry, and on a 401 refreshes
 * once and retries once. Refreshes are single-flight (N callers, one request) and, with the cookie,
 * coordinated across tabs. Uses only what browsers and Node both have: fetch, BroadcastChannel.
 */
import type {
  MeResponse,
  RefreshIn,
  SessionInfo,
  SessionsResponse,
  TokenResponse,
  UserResponse,
} from '../protocol.js';
import { errorFromResponse, LatchkeyClientError } from './errors.js';
import { type TabMessage, TabSync } from './tab-sync.js';

/** Where a caller without cookies (Node, a native app) keeps the refresh token. */
export interface RefreshTokenStore {
  get(): string | null | Promise<string | null>;
  set(token: string | null): void | Promise<void>;
}

export interface LatchkeyClientOptions {
  /** The Latchkey server, e.g. `https://auth.example.com`. */
  baseUrl: string;
  /**
   * `'cookie'` (the default, for browsers): the refresh token lives in an HttpOnly cookie that
   * JavaScript never sees. Otherwise a store for it: the body mode of the contract.
   */
  refreshToken?: 'cookie' | RefreshTokenStore;
  /** Renew the access token this long before it expires. Default 30 s. */
  refreshAheadSeconds?: number;
  /** Coordinate refreshes and logouts with other tabs. Default: on in cookie mode. */
  crossTab?: boolean;
  /**
   * The origins `authFetch` may send the access token to. Default: the origin of `baseUrl` only. A
   * URL on any other origin is refused, so no token reaches a server that should not have it.
   */
  resourceOrigins?: readonly string[];
  fetch?: typeof fetch;
  now?: () => number;
}

export type ClientEvent = 'authenticated' | 'refreshed' | 'loggedOut' | 'sessionExpired';

export interface LatchkeyClient {
  register(email: string, password: string): Promise<UserResponse['user']>;
  login(email: string, password: string): Promise<void>;
  /** Tries a silent refresh (after a page load); true when a session was there to resume. */
  restore(): Promise<boolean>;
  /**
   * Ends this device's session. When the server cannot be told (offline, 5xx, a refused origin), it
   * rejects; in cookie mode the session then stays (the HttpOnly cookie would bring it back), with a
   * store the token is forgotten all the same.
   */
  logout(): Promise<void>;
  logoutAll(): Promise<void>;
  me(): Promise<MeResponse>;
  sessions(): Promise<SessionInfo[]>;
  revokeSession(id: string): Promise<void>;
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** A valid access token (renewed when due), or null when there is no session. */
  getAccessToken(): Promise<string | null>;
  /** fetch with the access token; on a 401 refreshes once and retries once. */
  authFetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  readonly authenticated: boolean;
  on(event: ClientEvent, listener: () => void): () => void;
  /** Stops listening to other tabs. */
  close(): void;
}

export function createClient(options: LatchkeyClientOptions): LatchkeyClient {
  if (typeof options?.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new TypeError('baseUrl must be an http(s) URL');
  }
  const ahead = options.refreshAheadSeconds ?? 30;
  if (!Number.isFinite(ahead) || ahead < 0) throw new TypeError('refreshAheadSeconds must be ≥ 0');
  const store =
    options.refreshToken === undefined || options.refreshToken === 'cookie' ? null : options.refreshToken;
  if (store !== null && (typeof store.get !== 'function' || typeof store.set !== 'function')) {
    throw new TypeError("refreshToken must be 'cookie' or a store with get() and set()");
  }
  const origins = [new URL(options.baseUrl).origin];
  for (const origin of options.resourceOrigins ?? []) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new TypeError(`resourceOrigins: ${origin} is not a URL`);
    }
    if (parsed.origin !== origin)
      throw new TypeError(`resourceOrigins: ${origin} is not an origin (${parsed.origin}?)`);
    origins.push(origin);
  }
  return new Client(options, store, ahead * 1000, new Set(origins));
}

class Client implements LatchkeyClient {
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #store: RefreshTokenStore | null;
  readonly #aheadMs: number;
  readonly #resourceOrigins: ReadonlySet<string>;
  /** The lifetime of the current token, so that renewing ahead never takes more than half of it. */
  #lifetimeMs = 0;
  readonly #sync: TabSync | null;
  readonly #listeners = new Map<ClientEvent, Set<() => void>>();
  #token: string | null = null;
  #expiresAt = 0;
  #refreshing: Promise<string | null> | null = null;
  /** Whether this client has held a session, so that losing it is news (sessionExpired). */
  #hadSession = false;

  constructor(
    options: LatchkeyClientOptions,
    store: RefreshTokenStore | null,
    aheadMs: number,
    resourceOrigins: ReadonlySet<string>,
  ) {
    this.#resourceOrigins = resourceOrigins;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#store = store;
    this.#aheadMs = aheadMs;
    const crossTab = options.crossTab ?? store === null;
    this.#sync = crossTab ? new TabSync(`latchkey:${this.#baseUrl}`) : null;
    this.#sync?.onMessage((message) => this.#fromOtherTab(message));
  }

  get authenticated(): boolean {
    return this.#token !== null;
  }

  get #mode(): RefreshIn {
    return this.#store === null ? 'cookie' : 'body';
  }

  async register(email: string, password: string): Promise<UserResponse['user']> {
    const response = await this.#call('POST', '/auth/register', { email, password });
    return ((await response.json()) as UserResponse).user;
  }

  async login(email: string, password: string): Promise<void> {
    const response = await this.#call('POST', '/auth/login', { email, password, refresh_in: this.#mode });
    await this.#accept((await response.json()) as TokenResponse);
  }

  async restore(): Promise<boolean> {
    return (await this.getAccessToken()) !== null;
  }

  async logout(): Promise<void> {
    const body = this.#store === null ? undefined : { refresh_token: (await this.#store.get()) ?? undefined };
    try {
      await this.#call(
        'POST',
        '/auth/logout',
        body?.refresh_token === undefined ? undefined : body,
        this.#token,
      );
    } catch (error) {
      // Cookie mode: the refresh token sits in an HttpOnly cookie that only the server's answer
      // clears. Unanswered (offline, 5xx, a refused origin), this device is still logged in, and a
      // reload would bring the session back: say so, and keep the session for another try. With a
      // store, forgetting the token is the logout on this device, whatever the server said.
      if (this.#store === null) throw error;
      await this.#endLocally('loggedOut');
      this.#sync?.post({ type: 'logged-out' });
      throw error;
    }
    await this.#endLocally('loggedOut');
    this.#sync?.post({ type: 'logged-out' });
  }

  async logoutAll(): Promise<void> {
    await this.#authed('POST', '/auth/logout-all');
    await this.#endLocally('loggedOut');
    this.#sync?.post({ type: 'logged-out' });
  }

  async me(): Promise<MeResponse> {
    return (await (await this.#authed('GET', '/api/me')).json()) as MeResponse;
  }

  async sessions(): Promise<SessionInfo[]> {
    return ((await (await this.#authed('GET', '/auth/sessions')).json()) as SessionsResponse).sessions;
  }

  async revokeSession(id: string): Promise<void> {
    await this.#authed('DELETE', `/auth/sessions/${encodeURIComponent(id)}`);
  }

  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.#authed('POST', '/auth/password', {
      current_password: currentPassword,
      new_password: newPassword,
    });
  }

  async getAccessToken(): Promise<string | null> {
    if (this.#fresh()) return this.#token;
    return this.#refresh(this.#token);
  }

  async authFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const first = new Request(input, init);
    const origin = new URL(first.url).origin;
    if (!this.#resourceOrigins.has(origin)) {
      // Checked before any token is fetched: a URL built from user input must not receive one.
      throw new TypeError(`authFetch sends the access token only to resourceOrigins; ${origin} is not one`);
    }
    const token = await this.getAccessToken();
    if (token === null) throw new LatchkeyClientError('missing_token', 'not logged in', 401);
    // Cloned before the first send: a body can be read only once.
    const retry = first.clone();
    first.headers.set('authorization', `Bearer ${token}`);
    const response = await this.#send(first);
    if (response.status !== 401) return response;
    const renewed = await this.#refresh(token);
    if (renewed === null) return response;
    retry.headers.set('authorization', `Bearer ${renewed}`);
    return this.#send(retry);
  }

  on(event: ClientEvent, listener: () => void): () => void {
    const listeners = this.#listeners.get(event) ?? new Set();
    this.#listeners.set(event, listeners);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  close(): void {
    this.#sync?.close();
  }

  #fresh(): boolean {
    // Never more than half the lifetime ahead: a 30 s token would otherwise be refreshed on every call.
    const ahead = Math.min(this.#aheadMs, this.#lifetimeMs / 2);
    return this.#token !== null && this.#now() < this.#expiresAt - ahead;
  }

  /** One refresh for every caller that found `stale` wanting; with the cookie, one across tabs too. */
  #refresh(stale: string | null): Promise<string | null> {
    this.#refreshing ??= (async () => {
      const alreadyDone = () => (this.#token !== stale && this.#fresh() ? this.#token : undefined);
      return this.#sync === null
        ? this.#refreshNow()
        : this.#sync.exclusive(alreadyDone, () => this.#refreshNow());
    })().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refreshNow(): Promise<string | null> {
    let body: { refresh_token: string } | undefined;
    if (this.#store !== null) {
      const stored = await this.#store.get();
      if (stored === null) return this.#sessionGone();
      body = { refresh_token: stored };
    }
    let response: Response;
    try {
      response = await this.#call('POST', '/auth/refresh', body);
    } catch (error) {
      if (error instanceof LatchkeyClientError && error.code === 'invalid_grant') return this.#sessionGone();
      throw error;
    }
    return this.#accept((await response.json()) as TokenResponse);
  }

  async #accept(tokens: TokenResponse): Promise<string> {
    if (
      typeof tokens.access_token !== 'string' ||
      !(Number.isFinite(tokens.expires_in) && tokens.expires_in > 0)
    ) {
      throw new LatchkeyClientError(
        'internal_error',
        'the server sent a token response without a token or a lifetime',
        200,
      );
    }
    const wasAuthenticated = this.#token !== null;
    this.#token = tokens.access_token;
    this.#lifetimeMs = tokens.expires_in * 1000;
    this.#expiresAt = this.#now() + this.#lifetimeMs;
    this.#hadSession = true;
    if (this.#store !== null && tokens.refresh_token !== undefined)
      await this.#store.set(tokens.refresh_token);
    this.#sync?.post({ type: 'refreshed', accessToken: this.#token, expiresAt: this.#expiresAt });
    this.#emit(wasAuthenticated ? 'refreshed' : 'authenticated');
    return this.#token;
  }

  async #sessionGone(): Promise<null> {
    const hadSession = this.#hadSession;
    await this.#endLocally(null);
    this.#sync?.post({ type: 'refresh-failed' });
    if (hadSession) this.#emit('sessionExpired');
    return null;
  }

  async #endLocally(event: ClientEvent | null): Promise<void> {
    this.#token = null;
    this.#expiresAt = 0;
    this.#hadSession = false;
    if (this.#store !== null) await this.#store.set(null);
    if (event !== null) this.#emit(event);
  }

  #fromOtherTab(message: TabMessage): void {
    if (message.type === 'refreshed') {
      const wasAuthenticated = this.#token !== null;
      this.#token = message.accessToken;
      this.#lifetimeMs = Math.max(0, message.expiresAt - this.#now());
      this.#expiresAt = message.expiresAt;
      this.#hadSession = true;
      this.#emit(wasAuthenticated ? 'refreshed' : 'authenticated');
    } else if (message.type === 'logged-out') {
      if (this.#token !== null || this.#hadSession) void this.#endLocally('loggedOut');
    } else if (message.type === 'refresh-failed') {
      const hadSession = this.#hadSession;
      void this.#endLocally(null).then(() => hadSession && this.#emit('sessionExpired'));
    }
  }

  #emit(event: ClientEvent): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        listener();
      } catch {
        // A listener's failure is the app's; the client's state is already right.
      }
    }
  }

  /** A call with the access token (renewed when due, retried once after a 401); errors thrown. */
  async #authed(method: string, path: string, body?: unknown): Promise<Response> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const response = await this.authFetch(`${this.#baseUrl}${path}`, init);
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  /** A call to the server, with the cookie in cookie mode; errors thrown. */
  async #call(method: string, path: string, body?: unknown, bearer?: string | null): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const init: RequestInit = { method, headers, credentials: 'include' };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await this.#send(new Request(`${this.#baseUrl}${path}`, init));
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  async #send(request: Request): Promise<Response> {
    try {
      return await this.#fetch(request);
    } catch (error) {
      throw new LatchkeyClientError(
        'network_error',
        `no answer from ${new URL(request.url).origin}: ${error instanceof Error ? error.message : String(error)}`,
        0,
      );
    }
  }
}
