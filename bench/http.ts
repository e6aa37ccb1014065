/**
 * HTTP benchmark: what an auth layer costs a protected JSON route. Fastify and Express alone (the
 * ceilings), with latchkey/verify's adapters (token cache on and off), with @fastify/jwt, and with
 * the jsonwebtoken middleware the tutorials seed, for HS256, ES256 and EdDSA.
 *
 *   npm run bench:http                   full run: 10 rounds × 2 s per variant, about 8 minutes
 *   npm run bench:http -- --quick        smoke run: 2 rounds × 2 s, under 2 minutes
 *   npm run bench:http -- --json FILE    also write the medians as JSON
 *   npm run bench:http -- --cpu-prof DIR profile the latchkey servers (node --cpu-prof)
 *   npm run bench:http -- --only 'fastify+latchkey ES256,fastify -'   the cases whose key starts so
 *
 * Each server is its own process pinned to core 0 (`taskset -c 0`); this process, which runs
 * autocannon (10 connections, every request with the same valid token) and the issuer, is pinned to
 * core 1. Rounds are interleaved: each gives every variant one run, in a freshly shuffled order, so
 * that drift and noisy neighbours spread over all variants; the table shows medians over rounds.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type AlgFixture, type Issuer, SUBJECT, startIssuer } from './http-issuer.js';
import { formatNoise, type LoadRun, medianOf, runLoad, runLoadRounds } from './http-load.js';
import {
  allCases,
  type Case,
  caseKey,
  checkTargets,
  formatLoadCheck,
  formatTable,
  formatTargets,
  HTTP_ALGS,
  type HttpResult,
  hasCase,
} from './http-report.js';
import type { ServerConfig } from './http-servers.js';
import {
  describeMachine,
  pinToClientCore,
  type ServerProcess,
  startServerProcess,
  stopProcesses,
} from './processes.js';

interface Settings {
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
}

/**
 * 19 variants × (1 s warm-up + 10 rounds × 2 s) ≈ 400 s of load, plus start-up: about 8 minutes on
 * two cores. This machine is shared (other jobs took a median 1.3 cores during the first runs), and
 * more short rounds beat fewer long ones for a median: a burst of someone else's work spoils one
 * 2 s run of a few variants instead of one 5 s run, and ten rounds give quartiles for the targets. At
 * 3k–35k req/s a 2 s run still gives 6k–70k latencies, at least 60 of them beyond the p99. Ten
 * connections keep the single-threaded server fed across the loopback round trip without queueing
 * so deep that p99 measures only the queue.
 */
const FULL: Settings = { rounds: 10, durationSeconds: 2, warmupSeconds: 1, connections: 10 };
const QUICK: Settings = { rounds: 2, durationSeconds: 2, warmupSeconds: 1, connections: 10 };

interface RunningServer extends ServerProcess {
  c: Case;
  url: string;
}

const SERVER_ENTRY = fileURLToPath(new URL('./http-servers.ts', import.meta.url));

async function startServer(
  c: Case,
  fixture: AlgFixture | null,
  pinned: boolean,
  cpuProfDir: string | undefined,
): Promise<RunningServer> {
  const config: ServerConfig = { ...c, material: fixture?.material ?? null };
  // A directory per case: the loader thread of tsx writes a profile too, under its own thread id.
  const profile =
    cpuProfDir !== undefined && c.variant.endsWith('latchkey')
      ? ['--cpu-prof', '--cpu-prof-dir', join(cpuProfDir, caseKey(c).replaceAll(' ', '_'))]
      : [];
  const server = await startServerProcess(
    caseKey(c),
    [process.execPath, ...profile, '--import', 'tsx', SERVER_ENTRY],
    { ...process.env, BENCH_HTTP_SERVER: JSON.stringify(config), NODE_ENV: 'production' },
    pinned,
  );
  const { port } = server.hello as { port: number };
  return { ...server, c, url: `http://127.0.0.1:${port}/me` };
}

async function status(url: string, token: string | null): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.text() };
}

/**
 * Outside timing: every variant answers the valid token with its sub; every auth layer refuses the
 * forged token and a request without one (the tutorial with 403 or 401, the others with 401).
 */
async function checkServer(server: RunningServer, fixture: AlgFixture | null, token: string): Promise<void> {
  const name = caseKey(server.c);
  const valid = await status(server.url, token);
  if (valid.status !== 200 || (JSON.parse(valid.body) as { sub?: unknown }).sub !== SUBJECT) {
    throw new Error(`${name}: the valid token got ${valid.status} ${valid.body}`);
  }
  if (fixture === null) return;
  for (const [what, attempt] of [
    ['forged', fixture.forgedToken],
    ['missing', null],
  ] as const) {
    const refused = await status(server.url, attempt);
    if (refused.status !== 401 && refused.status !== 403) {
      throw new Error(`${name}: the ${what} token got ${refused.status}`);
    }
  }
}

function describeRun(pinned: boolean, settings: Settings, quick: boolean): string {
  return [
    describeMachine(pinned, 'autocannon and the issuer'),
    `${quick ? 'quick' : 'full'} run: ${settings.rounds} rounds × ${settings.durationSeconds} s per variant ` +
      `after ${settings.warmupSeconds} s warm-up, ${settings.connections} connections, one token repeated; ` +
      'medians over rounds',
  ].join('\n');
}

const NOTES = [
  'req/s: 200 responses per second; p99: client-side latency; server µs/req: server CPU (user+system) per',
  'response; busy: server CPU over wall time (1 core = 100%). ÷ ceiling: req/s over the same framework',
  'with no auth; ÷ peer: fastify+latchkey over fastify+@fastify/jwt, express+latchkey over',
  'express+jsonwebtoken-seed, same alg.',
  '[1] latchkey ES256/EdDSA: createRemoteVerifier against a loopback issuer (discovery + JWKS, one key);',
  '    latchkey HS256: secrets are never published in a JWKS, so the JWT core’s createVerifier over a',
  '    KeySet, wrapped as a TokenVerifier ({ verify: async (t) => … }), behind the same adapters.',
  '[2] express+jsonwebtoken-seed is the tutorials’ middleware: jwt.verify(token, process.env.JWT_SECRET,',
  '    cb), 403 on failure; it checks signature and exp only. HS256 uses a string secret; for ES256 the',
  '    same code with JWT_SECRET holding the public key PEM (its natural equivalent; jsonwebtoken then',
  '    parses the PEM on every call). jsonwebtoken 9 has no EdDSA: n/a.',
  '[3] latchkey and @fastify/jwt check alg, iss, aud, typ at+jwt and require exp, iat, sub;',
  '    @fastify/jwt as its README sets it up (verify-only `secret: { public }`, onRequest authenticate),',
  '    its verified-token cache off (the default).',
].join('\n');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      only: { type: 'string' },
    },
  });
  const settings = values.quick ? QUICK : FULL;
  const pinned = pinToClientCore();
  console.log(`${describeRun(pinned, settings, values.quick)}\n`);

  const issuer: Issuer = await startIssuer(HTTP_ALGS);
  const prefixes = values.only?.split(',') ?? [''];
  const cases = allCases().filter((c) => hasCase(c) && prefixes.some((p) => caseKey(c).startsWith(p)));
  const servers: RunningServer[] = [];
  // The ceilings ignore the header, but carry a token all the same: the same request everywhere.
  const tokenOf = (c: Case) => issuer.fixtures.get(c.alg ?? 'ES256')?.token ?? '';
  try {
    for (const c of cases) {
      const fixture = c.alg === null ? null : (issuer.fixtures.get(c.alg) ?? null);
      const server = await startServer(c, fixture, pinned, values['cpu-prof']);
      servers.push(server);
      await checkServer(server, fixture, tokenOf(c));
    }
    process.stderr.write(`${servers.length} servers pass the sanity checks; warming up\n`);

    const load = (server: RunningServer, durationSeconds: number) =>
      runLoad({
        url: server.url,
        token: tokenOf(server.c),
        connections: settings.connections,
        durationSeconds,
        serverPid: server.pid,
      });
    for (const server of servers) await load(server, settings.warmupSeconds);

    const samples = await runLoadRounds(servers, {
      rounds: settings.rounds,
      seed: 20240611,
      name: (server) => caseKey(server.c),
      run: (server) => load(server, settings.durationSeconds),
    });

    const results: HttpResult[] = servers.map(({ c }) => {
      const runs = samples.get(caseKey(c)) ?? [];
      const of = (pick: (run: LoadRun) => number) => medianOf(runs, pick);
      return {
        ...c,
        reqPerSec: Math.round(of((run) => run.reqPerSec)),
        p99Ms: Number(of((run) => run.p99Ms).toFixed(3)),
        serverCpuUsPerReq: Number(of((run) => run.serverCpuUsPerReq).toFixed(1)),
        serverBusy: Number(of((run) => run.serverBusy).toFixed(3)),
      };
    });
    const rounds = (c: Case) => samples.get(caseKey(c))?.map((run) => run.reqPerSec);
    console.log(`${formatTable(results)}\n\n${NOTES}\n`);
    console.log(`${formatLoadCheck(results)}\n${formatNoise([...samples.values()].flat())}\n`);
    console.log(formatTargets(checkTargets(results, rounds)));
    if (values.json !== undefined) {
      writeFileSync(values.json, `${JSON.stringify({ results }, null, 2)}\n`);
      console.log(`\nwrote ${values.json}`);
    }
  } finally {
    await stopProcesses(servers.map((server) => server.child));
    await issuer.close();
  }
}

await main();
