/**
 * Server benchmark (issue #10): Latchkey, run as `npm start` runs it, beside what it is built on.
 * GET /healthz, /.well-known/jwks.json and /api/me (one token repeated) under autocannon, beside a bare
 * Fastify route and Fastify + @fastify/jwt ES256; refreshes/s and logins/s with 16 clients, beside the
 * machine's raw single-row SQLite commits/s and argon2id verifications/s; logins/s also beside a bare
 * Fastify route that only verifies the password, for scale.
 *
 *   npm run bench:server                       5 rounds × 3 s per variant, about 3 minutes
 *   npm run bench:server -- --quick            2 rounds × 1 s, under a minute
 *   npm run bench:server -- --rounds N --duration SECONDS --warmup SECONDS
 *   npm run bench:server -- --json FILE        also write {"results":[{name, impl, perSec, p99Ms}, …]}
 *
 * Latchkey is `node --enable-source-maps dist/server/main.js` (dist/ is built first when it is older
 * than src/), ES256, SQLite in a fresh data directory, every other setting its default (the log level
 * too). It, the peers and the raw-rate process are each their own process pinned to core 0; this
 * process (autocannon and the clients) is pinned to core 1. Rounds alternate: each gives every
 * variant one run, in a freshly shuffled order; the table shows medians over rounds.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WELL_KNOWN } from '../src/protocol.js';
import { loadConfig } from '../src/server/config.js';
import { type LatchkeyProcess, SERVER_MAIN, startLatchkeyProcess } from '../test/support/server-process.js';
import type { AlgMaterial } from './http-issuer.js';
import { formatNoise, type LoadRun, medianOf, runLoad } from './http-load.js';
import {
  describeMachine,
  onServerCore,
  pinToClientCore,
  type ServerProcess,
  startServerProcess,
  stopProcesses,
} from './processes.js';
import {
  clientsRunner,
  ensureBuilt,
  measureRounds,
  type Runner,
  rawRunner,
  withRig,
  writeResults,
} from './runners.js';
import { accessTokenOf, clientSteps, emailOf, LatchkeyClient, openSessions } from './server-clients.js';
import type { PeerConfig } from './server-peers.js';
import type { RawHello } from './server-raw.js';
import {
  allVariants,
  checkCapacityTargets,
  checkTargets,
  formatLoadCheck,
  formatLoginScale,
  formatTable,
  formatTargets,
  type MeasuredResult,
  toJSON,
  type Variant,
  variantKey,
} from './server-report.js';
import { describeSettings, readSettings, type Settings } from './settings.js';

/**
 * 11 variants × (1 s warm-up + 5 rounds × 3 s) ≈ 180 s of load, plus start-up: about 3 minutes. At
 * 20–30 logins/s a 3 s run still gives 60–90 logins, and at 10k req/s 30k latencies for the p99.
 */
const FULL: Settings = { rounds: 5, durationSeconds: 3, warmupSeconds: 1 };
const QUICK: Settings = { rounds: 2, durationSeconds: 1, warmupSeconds: 0.5 };

/** autocannon's connections, as bench:http: enough to keep a core busy, too few for p99 to be all queue. */
const CONNECTIONS = 10;
/** The issue's refresh and login clients; each has its own user and session. */
const CLIENTS = 16;

/** The level the server logs at when LOG_LEVEL is not set, which the benchmark leaves unset. */
const DEFAULT_LOG_LEVEL = loadConfig({}).logLevel;

const PEER_ENTRY = fileURLToPath(new URL('./server-peers.ts', import.meta.url));
const LOGIN_PEER_ENTRY = fileURLToPath(new URL('./server-login-peer.ts', import.meta.url));
const RAW_ENTRY = fileURLToPath(new URL('./server-raw.ts', import.meta.url));

/** Everything started for one benchmark, stopped by `close` whatever happened. */
interface Rig {
  runners: Runner<Variant>[];
  /** Before every round: a fresh access token for /api/me, which lives 15 minutes. */
  renewToken(): Promise<void>;
  hashConcurrency: number;
  argon2: RawHello['argon2'];
  close(): Promise<void>;
  /** For an exit that cannot wait (a crash, Ctrl-C): signals every process and removes the data dir. */
  abandon(): void;
}

/** A process that answers HTTP: where, and whose CPU to read. */
interface Target {
  url: string;
  pid: number;
}

const targetOf = (server: ServerProcess): Target => ({
  url: `http://127.0.0.1:${(server.hello as { port: number }).port}`,
  pid: server.pid,
});

/** The header (0) or the claims (1) of a JWT, read without verifying it. */
const decodeJWT = (token: string, part: 0 | 1): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[part] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;

/** What @fastify/jwt needs to verify Latchkey's tokens: its public key (from its JWKS) and issuer. */
function materialOf(jwks: { keys: JsonWebKey[] }, kid: string, issuer: string): AlgMaterial {
  const jwk = jwks.keys.find((key) => key.kid === kid);
  if (jwk === undefined) throw new Error(`the JWKS has no key ${kid}`);
  const publicPEM = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  return { alg: 'ES256', issuer, kid, secret: null, publicPEM: publicPEM.toString() };
}

async function get(url: string, token: string | null): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

/** A token with one character of its signature changed: every verifier must refuse it. */
function tamper(token: string): string {
  const at = token.lastIndexOf('.') + 10;
  return `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
}

/** Outside timing: both sides of each autocannon row answer alike, and both refuse a bad token. */
async function checkPeers(
  latchkey: string,
  fastify: string,
  fastifyJWT: string,
  token: string,
): Promise<void> {
  for (const path of ['/healthz', WELL_KNOWN.jwks]) {
    const [ours, theirs] = await Promise.all([
      get(`${latchkey}${path}`, null),
      get(`${fastify}${path}`, null),
    ]);
    if (ours.status !== 200 || JSON.stringify(ours.body) !== JSON.stringify(theirs.body)) {
      throw new Error(
        `${path}: latchkey answered ${ours.status} ${JSON.stringify(ours.body)}, the peer otherwise`,
      );
    }
  }
  const { sub } = decodeJWT(token, 1);
  const me = await get(`${latchkey}/api/me`, token);
  if (me.status !== 200 || (me.body as { id?: unknown }).id !== sub) {
    throw new Error(`/api/me: latchkey answered ${me.status} ${JSON.stringify(me.body)}`);
  }
  const claims = await get(`${fastifyJWT}/api/me`, token);
  if (claims.status !== 200 || (claims.body as { sub?: unknown }).sub !== sub) {
    throw new Error(`/api/me: @fastify/jwt answered ${claims.status} ${JSON.stringify(claims.body)}`);
  }
  for (const attempt of [tamper(token), null]) {
    for (const base of [latchkey, fastifyJWT]) {
      const refused = await get(`${base}/api/me`, attempt);
      if (refused.status !== 401) {
        throw new Error(
          `${base}/api/me took a ${attempt === null ? 'missing' : 'tampered'} token: ${refused.status}`,
        );
      }
    }
  }
}

/** The verify-only route and the raw rate must hash alike, or [6] and [5] measure different work. */
function checkSameHashing(route: RawHello, raw: RawHello): void {
  const describe = ({ hashConcurrency, argon2 }: RawHello) => JSON.stringify({ hashConcurrency, argon2 });
  if (describe(route) !== describe(raw)) {
    throw new Error(
      `the verify-only login route hashes as ${describe(route)}, the raw rate as ${describe(raw)}`,
    );
  }
}

/** The verify-only login route verifies: the benchmark's password passes, another does not. */
async function checkLoginPeer(client: LatchkeyClient): Promise<void> {
  const [right, wrong] = await Promise.all([client.login(emailOf(0)), client.login(emailOf(0), 'not-it')]);
  if (right.status !== 200 || wrong.status !== 401) {
    throw new Error(
      `the verify-only login route answered ${right.status} and ${wrong.status}, not 200 and 401`,
    );
  }
}

/** Each request repeats the same, with one token (or none), under autocannon. */
function autocannonRunner(
  variant: Variant,
  target: Target,
  path: string,
  token: () => string | null,
): Runner<Variant> {
  return {
    variant,
    run: (durationSeconds) =>
      runLoad({
        url: `${target.url}${path}`,
        token: token(),
        connections: CONNECTIONS,
        durationSeconds,
        serverPid: target.pid,
      }),
  };
}

async function startRig(pinned: boolean): Promise<Rig> {
  const processes: ServerProcess[] = [];
  let latchkey: LatchkeyProcess | null = null;
  const clients: LatchkeyClient[] = [];
  const close = async () => {
    for (const client of clients) client.close();
    await stopProcesses(processes.map(({ child }) => child));
    await latchkey?.close();
  };
  try {
    // The server's own defaults, the log level among them: only what the benchmark must fix is set.
    const env = { LATCHKEY_ALG: 'ES256', LOG_LEVEL: undefined, NODE_ENV: 'production' };
    latchkey = await startLatchkeyProcess({ env, launcher: onServerCore([], pinned) });
    const server: Target = { url: latchkey.baseUrl, pid: latchkey.pid };
    const latchkeyClient = new LatchkeyClient(server.url, CLIENTS);
    clients.push(latchkeyClient);
    process.stderr.write(`registering and logging in ${CLIENTS} users…\n`);
    const sessions = await openSessions(latchkeyClient, CLIENTS);

    const jwks = (await get(`${server.url}${WELL_KNOWN.jwks}`, null)).body as { keys: JsonWebKey[] };
    const kid = String(decodeJWT(sessions.meToken, 0).kid);
    const start = async (name: string, entry: string, extraEnv: NodeJS.ProcessEnv) => {
      const argv = [process.execPath, '--import', 'tsx', entry];
      const started = await startServerProcess(name, argv, { ...process.env, ...extraEnv }, pinned);
      processes.push(started);
      return started;
    };
    const startPeer = (config: PeerConfig) =>
      start(config.impl, PEER_ENTRY, { BENCH_SERVER_PEER: JSON.stringify(config), NODE_ENV: 'production' });
    const starting = [
      startPeer({ impl: 'fastify', jwks }),
      startPeer({
        impl: 'fastify+@fastify/jwt',
        material: materialOf(jwks, kid, server.url),
        audience: server.url,
      }),
      start('fastify login', LOGIN_PEER_ENTRY, env),
      start('raw rates', RAW_ENTRY, env),
    ] as const;
    // Every start settled first, so that when one fails, `close` stops all the others that started.
    await Promise.allSettled(starting);
    const [fastifyProcess, fastifyJWTProcess, fastifyLoginProcess, raw] = await Promise.all(starting);
    checkSameHashing(fastifyLoginProcess.hello as RawHello, raw.hello as RawHello);
    const fastify = targetOf(fastifyProcess);
    const fastifyJWT = targetOf(fastifyJWTProcess);
    await checkPeers(server.url, fastify.url, fastifyJWT.url, sessions.meToken);
    const fastifyLogin = targetOf(fastifyLoginProcess);
    const fastifyClient = new LatchkeyClient(fastifyLogin.url, CLIENTS);
    clients.push(fastifyClient);
    await checkLoginPeer(fastifyClient);

    const meToken = () => sessions.meToken;
    const noToken = () => null;
    const steps = clientSteps(latchkeyClient, sessions);
    const fastifySteps = clientSteps(fastifyClient, sessions);
    const runners: Runner<Variant>[] = [
      autocannonRunner({ name: 'healthz', impl: 'latchkey' }, server, '/healthz', noToken),
      autocannonRunner({ name: 'healthz', impl: 'fastify' }, fastify, '/healthz', noToken),
      autocannonRunner({ name: 'jwks', impl: 'latchkey' }, server, WELL_KNOWN.jwks, noToken),
      autocannonRunner({ name: 'jwks', impl: 'fastify' }, fastify, WELL_KNOWN.jwks, noToken),
      autocannonRunner({ name: 'me', impl: 'latchkey' }, server, '/api/me', meToken),
      autocannonRunner({ name: 'me', impl: 'fastify+@fastify/jwt' }, fastifyJWT, '/api/me', meToken),
      clientsRunner({ name: 'refresh', impl: 'latchkey' }, CLIENTS, server.pid, steps.refresh),
      rawRunner({ name: 'refresh', impl: 'raw' }, raw, { op: 'commit' }),
      clientsRunner({ name: 'login', impl: 'latchkey' }, CLIENTS, server.pid, steps.login),
      rawRunner({ name: 'login', impl: 'raw' }, raw, { op: 'argon2' }),
      clientsRunner({ name: 'login', impl: 'fastify' }, CLIENTS, fastifyLogin.pid, fastifySteps.login),
    ];
    const renewToken = async () => {
      const renewed = await latchkeyClient.refresh(sessions.meRefreshToken);
      sessions.meToken = accessTokenOf(renewed);
      sessions.meRefreshToken = renewed.refreshToken ?? '';
    };
    const { hashConcurrency, argon2 } = raw.hello as RawHello;
    const started = latchkey;
    const abandon = () => {
      for (const { child } of processes) child.kill('SIGTERM');
      started.abandon();
    };
    return { runners, renewToken, hashConcurrency, argon2, close, abandon };
  } catch (error) {
    await close();
    throw error;
  }
}

function describeRun(pinned: boolean, settings: Settings): string {
  return [
    describeMachine(pinned, 'autocannon and the refresh and login clients'),
    describeSettings(settings),
  ].join('\n');
}

function notes(rig: Rig): string {
  const { memoryCost, timeCost, parallelism } = rig.argon2;
  return [
    'latchkey/s, peer/s: successful requests (commits, verifications) per second; p99: latency seen by',
    'the client (raw: by its loop); busy: CPU of the serving process over wall time (1 core = 100%).',
    `latchkey: ${SERVER_MAIN}, ES256, SQLite in a fresh data dir, every other setting its default (log`,
    `level ${DEFAULT_LOG_LEVEL}, hash concurrency ${rig.hashConcurrency}). healthz, jwks, me: autocannon, ` +
      `${CONNECTIONS} connections;`,
    '/api/me verifies the Bearer token and reads the user from SQLite, one token repeated. refresh,',
    `login: ${CLIENTS} clients over keep-alive, cookie mode with Origin (as a browser calls them), each`,
    'its own user; a refresh sends the cookie the previous one returned, a login its own password.',
    '[1] Fastify 5 alone: GET /healthz answering the same {"status":"ok"}; no logger (Fastify’s default).',
    '[2] the same process: GET /.well-known/jwks.json answering Latchkey’s JWKS, held as a static object.',
    '[3] Fastify + @fastify/jwt as its README sets it up, with Latchkey’s ES256 key and issuer, checking',
    '    alg, iss, aud, typ at+jwt and requiring exp, iat, sub on every request (its cache off); it',
    '    answers the claims, with no database.',
    '[4] better-sqlite3 in a process of its own on the server’s core, its file on the same file system',
    '    as the server’s: WAL, synchronous=FULL, a table of 16 rows, `UPDATE … SET n = n + 1 WHERE id = ?',
    '    RETURNING n`, each its own transaction, one after the other.',
    `[5] @node-rs/argon2 verify in that process: argon2id m=${memoryCost} KiB, t=${timeCost}, ` +
      `p=${parallelism} (the server’s`,
    `    parameters), ${rig.hashConcurrency} in flight (the server’s hash concurrency).`,
    '[6] Fastify 5 alone, in a process of its own: POST /auth/login verifying the body’s password against',
    '    a hash with the parameters of [5], bounded by the hash concurrency as Latchkey bounds it, and',
    '    answering {"status":"ok"}: no database, token, cookie or log. The same clients as Latchkey’s;',
    '    V8’s interrupt budget lowered as Latchkey lowers its own.',
  ].join('\n');
}

async function main(): Promise<void> {
  const { settings, json } = readSettings(FULL, QUICK);
  const pinned = pinToClientCore();
  ensureBuilt();
  console.log(`${describeRun(pinned, settings)}\n`);
  const rig = await startRig(pinned);
  await withRig(rig, async (rig) => {
    process.stderr.write('the servers pass the sanity checks\n');
    const samples = await measureRounds(rig.runners, settings, variantKey, rig.renewToken);

    const results: MeasuredResult[] = allVariants().map((variant) => {
      const runs = samples.get(variantKey(variant)) ?? [];
      const of = (pick: (run: LoadRun) => number) => medianOf(runs, pick);
      return {
        ...variant,
        perSec: Number(of((run) => run.reqPerSec).toFixed(1)),
        p99Ms: Number(of((run) => run.p99Ms).toFixed(3)),
        busy: Number(of((run) => run.serverBusy).toFixed(3)),
      };
    });
    const rounds = (variant: Variant) => samples.get(variantKey(variant))?.map((run) => run.reqPerSec);
    console.log(`${formatTable(results)}\n\n${notes(rig)}\n`);
    const loadCheck = formatLoadCheck(results);
    console.log(`${loadCheck === '' ? '' : `${loadCheck}\n`}${formatNoise([...samples.values()].flat())}\n`);
    console.log(formatTargets(checkTargets(results, rounds)));
    const scale = formatLoginScale(results, rounds);
    if (scale !== '') console.log(scale);
    const capacityChecks = checkCapacityTargets(results);
    if (capacityChecks.length > 0) {
      console.log(
        '\nthe same, on requests per second of server CPU (a server of the pair was not saturated):\n' +
          formatTargets(capacityChecks),
      );
    }
    writeResults(json, toJSON(results));
  });
}

await main();
