/**
 * Crash safety: the production server runs as a child process on a real SQLite file (real argon2
 * parameters), is killed with SIGKILL in the middle of a burst of registrations, logins and
 * refreshes, and is started again on the same data directory. Whatever it acknowledged must still
 * be there, and nothing may be half-written.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, cleanEnv, field, type JSONResponse, request, sleep } from './support.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'correct horse battery staple';
/** Users registered (and then logged in) during the burst, started a few milliseconds apart. */
const BURST_USERS = 60;
const STAGGER_MS = 15;
/** The server is killed once this many registrations have been acknowledged. */
const KILL_AFTER_REGISTRATIONS = 20;
/** Sessions refreshed in a loop during the burst. */
const REFRESH_CHAINS = 4;

interface Child {
  process: ChildProcess;
  baseUrl: string;
  exited: Promise<void>;
  output(): string;
}

const children = new Set<ChildProcess>();
let dataDir = '';

/** The environment of the child: this machine's, minus any Latchkey setting that would leak in. */
function childEnv(): NodeJS.ProcessEnv {
  return {
    ...cleanEnv(),
    HOST: '127.0.0.1',
    PORT: '0',
    LATCHKEY_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    // Every burst user comes from its own address (X-Forwarded-For), as behind a proxy, so that the
    // per-IP registration limit (20/h) does not cut the burst short.
    LATCHKEY_TRUST_PROXY: 'true',
    // Long enough that a refresh committed just before the kill can be repeated after the restart.
    LATCHKEY_REFRESH_GRACE: '60',
  };
}

/** Starts `node --import tsx src/server/main.ts` and waits for the line that names its URL. */
async function startChild(): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: REPO_ROOT,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      children.delete(child);
      resolve();
    });
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the server did not start within 45 s:\n${output}`)),
      45_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      keep(chunk);
      const match = /Latchkey is listening on (http:\/\/[^\s]+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  return { process: child, baseUrl, exited, output: () => output };
}

/** A request that may meet a dead server: a network failure is `null`, not an exception. */
async function attempt(
  baseUrl: string,
  path: string,
  body: unknown,
  ip: string,
): Promise<JSONResponse | null> {
  try {
    return await request(baseUrl, path, { method: 'POST', body, headers: { 'x-forwarded-for': ip } });
  } catch {
    return null;
  }
}

function userIp(index: number): string {
  return `198.51.100.${index + 1}`;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-crash-'));
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('SIGKILL during a burst of writes', () => {
  it('keeps every acknowledged user, session and rotation, and writes nothing by halves', async () => {
    const first = await startChild();

    // Sessions whose refresh tokens are rotated over and over while the server dies.
    const chains: Array<{ email: string; refreshToken: string; accessToken: string; acknowledged: number }> =
      [];
    for (let index = 0; index < REFRESH_CHAINS; index++) {
      const email = `chain-${index}@example.com`;
      const ip = `192.0.2.${index + 1}`;
      const registered = await attempt(first.baseUrl, '/auth/register', { email, password: PASSWORD }, ip);
      expect(registered?.status, JSON.stringify(registered?.body)).toBe(201);
      const login = await attempt(
        first.baseUrl,
        '/auth/login',
        { email, password: PASSWORD, refresh_in: 'body' },
        ip,
      );
      expect(login?.status, JSON.stringify(login?.body)).toBe(200);
      if (login === null) throw new Error('login failed');
      chains.push({
        email,
        refreshToken: field(login, 'refresh_token'),
        accessToken: field(login, 'access_token'),
        acknowledged: 0,
      });
    }

    const acknowledgedUsers: string[] = [];
    const acknowledgedSessions: string[] = [];
    const unexpected: string[] = [];
    let networkFailures = 0;
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      first.process.kill('SIGKILL');
    };

    const burstUser = async (index: number) => {
      await sleep(index * STAGGER_MS);
      const email = `burst-${index}@example.com`;
      const registered = await attempt(
        first.baseUrl,
        '/auth/register',
        { email, password: PASSWORD },
        userIp(index),
      );
      if (registered === null) {
        networkFailures++;
        return;
      }
      if (registered.status !== 201) {
        // Under overload the hasher may refuse with 503; that is an honest "not done", not a crash.
        if (registered.status !== 503)
          unexpected.push(`register ${registered.status} ${JSON.stringify(registered.body)}`);
        return;
      }
      acknowledgedUsers.push(email);
      if (acknowledgedUsers.length >= KILL_AFTER_REGISTRATIONS) kill();
      const body = { email, password: PASSWORD, refresh_in: 'body' };
      const login = await attempt(first.baseUrl, '/auth/login', body, userIp(index));
      if (login === null) {
        networkFailures++;
        return;
      }
      if (login.status === 200) acknowledgedSessions.push(String(claimsOf(field(login, 'access_token')).sid));
      else if (login.status !== 503) unexpected.push(`login ${login.status} ${JSON.stringify(login.body)}`);
    };

    const refreshLoop = async (chain: (typeof chains)[number]) => {
      while (!killed) {
        const response = await attempt(
          first.baseUrl,
          '/auth/refresh',
          { refresh_token: chain.refreshToken },
          '192.0.2.100',
        );
        if (response === null) {
          networkFailures++;
          return;
        }
        if (response.status !== 200) {
          unexpected.push(`refresh ${response.status} ${JSON.stringify(response.body)}`);
          return;
        }
        chain.refreshToken = field(response, 'refresh_token');
        chain.accessToken = field(response, 'access_token');
        chain.acknowledged++;
      }
    };

    const burst = Promise.all([
      ...Array.from({ length: BURST_USERS }, (_, index) => burstUser(index)),
      ...chains.map(refreshLoop),
    ]);
    // Should the machine be so fast that the burst ends first, the kill still comes (and the test
    // then says below that it did not land in the middle).
    await burst.finally(kill);
    await first.exited;
    expect(first.process.signalCode).toBe('SIGKILL');

    expect(unexpected).toEqual([]);
    // The kill landed in the middle: some work was acknowledged, some was cut off.
    expect(acknowledgedUsers.length).toBeGreaterThanOrEqual(KILL_AFTER_REGISTRATIONS);
    expect(acknowledgedUsers.length).toBeLessThan(BURST_USERS);
    expect(networkFailures).toBeGreaterThan(0);
    for (const chain of chains) expect(chain.acknowledged).toBeGreaterThan(0);

    const second = await startChild();
    try {
      const ready = await request(second.baseUrl, '/readyz');
      expect(ready.status, second.output()).toBe(200);
      expect(ready.body).toEqual({ status: 'ready' });

      // Every acknowledged user logs in (a few at a time: real argon2).
      for (let start = 0; start < acknowledgedUsers.length; start += 8) {
        const batch = acknowledgedUsers.slice(start, start + 8);
        const logins = await Promise.all(
          batch.map((email) =>
            request(second.baseUrl, '/auth/login', { method: 'POST', body: { email, password: PASSWORD } }),
          ),
        );
        for (const [offset, login] of logins.entries()) {
          expect(login.status, `${batch[offset]}: ${JSON.stringify(login.body)}`).toBe(200);
        }
      }

      // The last acknowledged rotation of every chain survived: its refresh token works (were the
      // rotation after it committed without an answer, the grace window hands out that successor),
      // and its access token still opens /api/me.
      for (const chain of chains) {
        const me = await request(second.baseUrl, '/api/me', { bearer: chain.accessToken });
        expect(me.status, JSON.stringify(me.body)).toBe(200);
        expect(me.body?.email).toBe(chain.email);
        const refreshed = await request(second.baseUrl, '/auth/refresh', {
          method: 'POST',
          body: { refresh_token: chain.refreshToken },
        });
        expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
      }

      checkDatabase(join(dataDir, 'latchkey.sqlite'), acknowledgedUsers, acknowledgedSessions);

      const readyAgain = await request(second.baseUrl, '/readyz');
      expect(readyAgain.status).toBe(200);
    } finally {
      second.process.kill('SIGTERM');
      await Promise.race([second.exited, sleep(10_000)]);
    }
  }, 120_000);
});

/** Reads the file the server wrote, read-only, as an operator would after the crash. */
function checkDatabase(path: string, acknowledgedUsers: string[], acknowledgedSessions: string[]): void {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);

    const emails = new Set(
      (db.prepare('select email from users').all() as Array<{ email: string }>).map((row) => row.email),
    );
    for (const email of acknowledgedUsers) expect(emails.has(email), email).toBe(true);
    // A user row is whole: its password hash is a complete PHC string with the production parameters.
    const hashes = db.prepare('select email, password_hash from users').all() as Array<{
      email: string;
      password_hash: string;
    }>;
    for (const row of hashes) {
      expect(row.password_hash, row.email).toMatch(
        /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
      );
    }

    const sessionIds = new Set(
      (db.prepare('select id from sessions').all() as Array<{ id: string }>).map((row) => row.id),
    );
    for (const sid of acknowledgedSessions) expect(sessionIds.has(sid), sid).toBe(true);

    // No session without a refresh token, and no refresh token without its session.
    expect(
      db
        .prepare(
          `select s.id from sessions s
           where not exists (select 1 from refresh_tokens t where t.session_id = s.id)`,
        )
        .all(),
    ).toEqual([]);
    expect(
      db
        .prepare(
          `select t.hash from refresh_tokens t
           where not exists (select 1 from sessions s where s.id = t.session_id)`,
        )
        .all(),
    ).toEqual([]);
    // A live session has exactly one current token; a rotation wrote both halves (the old token's
    // successor link and the successor's row, in the same session).
    expect(
      db
        .prepare(
          `select s.id, count(t.hash) as current from sessions s
           left join refresh_tokens t on t.session_id = s.id and t.rotated_at is null
           where s.revoked_at is null group by s.id having count(t.hash) <> 1`,
        )
        .all(),
    ).toEqual([]);
    expect(
      db
        .prepare(
          `select t.hash from refresh_tokens t where t.rotated_at is not null and not exists
           (select 1 from refresh_tokens n where n.hash = t.successor_hash and n.session_id = t.session_id)`,
        )
        .all(),
    ).toEqual([]);
    expect(
      db
        .prepare('select hash from refresh_tokens where (rotated_at is null) <> (successor_hash is null)')
        .all(),
    ).toEqual([]);
  } finally {
    db.close();
  }
}
