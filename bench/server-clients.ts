/**
 * Latchkey's register, login and refresh as a browser calls them, for the server benchmark: cookie
 * mode (the default of /auth/login: the refresh token travels only in the `latchkey_refresh` cookie,
 * and a cookie request carries its page's Origin, as browsers send on every POST), over keep-alive
 * connections of node:http, which cost the load generator less than fetch.
 */
import { Agent, request } from 'node:http';
import { REFRESH_COOKIE } from '../src/server/cookies.js';

export const PASSWORD = 'bench-password-0123456789';

/** Client number `client` logs in as its own user. */
export const emailOf = (client: number): string => `bench-${client}@example.com`;

export interface Answer {
  status: number;
  body: string;
  /** The refresh token of the answer's `Set-Cookie`; null when it sets none (or clears it). */
  refreshToken: string | null;
}

function refreshTokenOf(setCookie: readonly string[] | undefined): string | null {
  const prefix = `${REFRESH_COOKIE}=`;
  const cookie = setCookie?.find((line) => line.startsWith(prefix));
  const value = cookie?.slice(prefix.length).split(';')[0] ?? '';
  return value === '' ? null : value;
}

export class LatchkeyClient {
  readonly #baseUrl: string;
  readonly #origin: string;
  readonly #agent: Agent;

  /** `connections`: as many as there are clients, so that none waits for a socket. */
  constructor(baseUrl: string, connections: number) {
    this.#baseUrl = baseUrl;
    this.#origin = new URL(baseUrl).origin;
    this.#agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  #post(path: string, headers: Record<string, string>, body: string | null): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const outgoing = request(
        `${this.#baseUrl}${path}`,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            ...headers,
            ...(body === null ? {} : { 'content-type': 'application/json' }),
            'content-length': String(body === null ? 0 : Buffer.byteLength(body)),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.once('error', reject);
          response.once('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              refreshToken: refreshTokenOf(response.headers['set-cookie']),
            }),
          );
        },
      );
      outgoing.once('error', reject);
      outgoing.end(body ?? undefined);
    });
  }

  register(email: string): Promise<Answer> {
    return this.#post('/auth/register', {}, JSON.stringify({ email, password: PASSWORD }));
  }

  /** Cookie mode: the answer's body holds the access token, its cookie the refresh token. */
  login(email: string, password = PASSWORD): Promise<Answer> {
    return this.#post('/auth/login', {}, JSON.stringify({ email, password }));
  }

  /** No body: the cookie authenticates, and its Origin passes the CSRF check. */
  refresh(refreshToken: string): Promise<Answer> {
    return this.#post(
      '/auth/refresh',
      { cookie: `${REFRESH_COOKIE}=${refreshToken}`, origin: this.#origin },
      null,
    );
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The access token of a token response, failing loudly (with the status) when there is none. */
export function accessTokenOf(answer: Answer): string {
  const token =
    answer.status === 200 ? (JSON.parse(answer.body) as { access_token?: unknown }).access_token : null;
  if (typeof token !== 'string') throw new Error(`expected a token response, got ${answer.status}`);
  return token;
}

/** Latchkey's side of refresh and login: a user and a session per client, and one more for /api/me. */
export interface Sessions {
  /** The refresh token each client sends next: the one its last refresh returned. */
  refreshTokens: string[];
  /** The access token /api/me repeats, from a session of its own, so the clients' chains stay theirs. */
  meToken: string;
  meRefreshToken: string;
}

/** Registers and logs in `clients` users, one at a time, and one more session for the first of them. */
export async function openSessions(client: LatchkeyClient, clients: number): Promise<Sessions> {
  const logIn = async (email: string) => {
    const answer = await client.login(email);
    const accessToken = accessTokenOf(answer);
    if (answer.refreshToken === null) throw new Error(`logging in ${email} set no refresh cookie`);
    return { accessToken, refreshToken: answer.refreshToken };
  };
  const refreshTokens: string[] = [];
  // One at a time: registration is throttled per IP (20 an hour), and all of these come from one.
  for (let index = 0; index < clients; index++) {
    const registered = await client.register(emailOf(index));
    if (registered.status !== 201)
      throw new Error(`registering ${emailOf(index)} answered ${registered.status}`);
    refreshTokens.push((await logIn(emailOf(index))).refreshToken);
  }
  const me = await logIn(emailOf(0));
  return { refreshTokens, meToken: me.accessToken, meRefreshToken: me.refreshToken };
}

/**
 * The clients' two steps: a refresh sends the cookie its client's previous refresh returned, a login
 * its client's own password. True when the answer was a success.
 */
export function clientSteps(
  client: LatchkeyClient,
  sessions: Sessions,
): { refresh(index: number): Promise<boolean>; login(index: number): Promise<boolean> } {
  return {
    async refresh(index) {
      const answer = await client.refresh(sessions.refreshTokens[index] as string);
      if (answer.status !== 200 || answer.refreshToken === null) return false;
      sessions.refreshTokens[index] = answer.refreshToken;
      return true;
    },
    async login(index) {
      return (await client.login(emailOf(index))).status === 200;
    },
  };
}
