/**
 * Login benchmark: does password hashing leave the protected routes alone? A real Latchkey server runs
 * in this process (production argon2 parameters, SQLite file in a temporary directory); the clients
 * run in worker threads, so that their work never lands on the server's event loop.
 *
 *   npm run bench:login                  idle 5 s, login storm 10 s with 12 clients
 *   npm run bench:login -- --quick       idle 2 s, storm 4 s with 8 clients
 *   npm run bench:login -- --json FILE   also write the figures as JSON
 *
 * Phases: (a) idle: one client calls GET /api/me back to back over keep-alive; (b) storm: C clients
 * log in continuously while the same kind of client measures /api/me. /api/me is timed by the client
 * and inside the server; both phases record the server thread's event-loop delay
 * (perf_hooks.monitorEventLoopDelay), how long it waited for a CPU (Linux schedstat), and the CPU time
 * of this process and of the whole machine. The target: /api/me p99 (client side) during the storm
 * within 2× of its idle p99.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface Settings {
  users: number;
  stormClients: number;
  idleMs: number;
  stormMs: number;
  /** Storm time left out at each end of the measured window (ramp-up, wind-down). */
  edgeMs: number;
  warmupRequests: number;
}

const FULL: Settings = {
  users: 32,
  stormClients: 12,
  idleMs: 5_000,
  stormMs: 10_000,
  edgeMs: 500,
  warmupRequests: 500,
};
const QUICK: Settings = {
  users: 16,
  stormClients: 8,
  idleMs: 2_000,
  stormMs: 4_000,
  edgeMs: 300,
  warmupRequests: 200,
};
const TARGET_RATIO = 2;
const PASSWORD = 'bench-password-0123456789';

/** What a worker is asked to do; it loads, warms up, says `ready`, and starts on `go`. */
type Task =
  | {
      kind: 'probe';
      baseUrl: string;
      accessToken: string;
      delayMs: number;
      durationMs: number;
      warmup: number;
    }
  | { kind: 'storm'; baseUrl: string; emails: string[]; clients: number; durationMs: number };

interface ProbeResult {
  kind: 'probe';
  latenciesMs: number[];
  failures: number;
}

interface StormResult {
  kind: 'storm';
  logins: number;
  latenciesMs: number[];
  statuses: Record<string, number>;
  elapsedMs: number;
}

type WorkerMessage = { type: 'ready' } | { type: 'done'; result: ProbeResult | StormResult };

// --- clients (worker threads) ---

async function getMe(baseUrl: string, accessToken: string): Promise<boolean> {
  const response = await fetch(`${baseUrl}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  await response.arrayBuffer();
  return response.status === 200;
}

async function runProbe(task: Extract<Task, { kind: 'probe' }>, go: Promise<void>): Promise<ProbeResult> {
  for (let i = 0; i < task.warmup; i++) await getMe(task.baseUrl, task.accessToken);
  parentPort?.postMessage({ type: 'ready' } satisfies WorkerMessage);
  await go;
  if (task.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, task.delayMs));
  const latenciesMs: number[] = [];
  let failures = 0;
  const end = performance.now() + task.durationMs;
  while (performance.now() < end) {
    const start = performance.now();
    const ok = await getMe(task.baseUrl, task.accessToken);
    latenciesMs.push(performance.now() - start);
    if (!ok) failures++;
  }
  return { kind: 'probe', latenciesMs, failures };
}

async function runStorm(task: Extract<Task, { kind: 'storm' }>, go: Promise<void>): Promise<StormResult> {
  parentPort?.postMessage({ type: 'ready' } satisfies WorkerMessage);
  await go;
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  let logins = 0;
  const started = performance.now();
  const end = started + task.durationMs;
  const client = async (index: number) => {
    const email = task.emails[index % task.emails.length] ?? '';
    const body = JSON.stringify({ email, password: PASSWORD, refresh_in: 'body' });
    while (performance.now() < end) {
      const start = performance.now();
      const response = await fetch(`${task.baseUrl}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await response.arrayBuffer();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status === 200) {
        logins++;
        latenciesMs.push(performance.now() - start);
      } else if (response.status === 503) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  await Promise.all(Array.from({ length: task.clients }, (_, index) => client(index)));
  return { kind: 'storm', logins, latenciesMs, statuses, elapsedMs: performance.now() - started };
}

async function workerMain(): Promise<void> {
  const task = (workerData as { task: Task }).task;
  const go = new Promise<void>((resolve) => parentPort?.once('message', () => resolve()));
  const result = task.kind === 'probe' ? await runProbe(task, go) : await runStorm(task, go);
  parentPort?.postMessage({ type: 'done', result } satisfies WorkerMessage);
}

// --- server and report ---

/** Workers load this same file through tsx, which Node 20 does not carry into worker threads by itself. */
const WORKER_BOOT =
  'import("tsx/esm/api").then((tsx) => { tsx.register(); ' +
  'return import(require("node:worker_threads").workerData.url); })';

interface RunningWorker<T> {
  ready: Promise<void>;
  go(): void;
  result: Promise<T>;
}

function startWorker<T>(task: Task): RunningWorker<T> {
  const worker = new Worker(WORKER_BOOT, { eval: true, workerData: { url: import.meta.url, task } });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const result = new Promise<T>((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') {
        markReady();
        return;
      }
      resolve(message.result as T);
      // Its keep-alive sockets would otherwise hold it (and the process) open.
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`a benchmark worker exited with code ${code}`)));
  });
  // A worker that dies before it is ready must not leave the caller waiting forever.
  result.catch(() => markReady());
  return { ready, go: () => worker.postMessage('go'), result };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function summarize(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

interface ServerSide {
  /** /api/me as the server saw it: from the request event to the last byte handed to the socket. */
  me: LatencySummary;
  /** How late the server thread's timers fired: the histogram's values less its resolution. */
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Event-loop utilisation of the server thread, 0–1. */
  loopUtilization: number;
  /**
   * Milliseconds per second the server thread was ready to run but waited for a CPU (Linux
   * schedstat; `null` elsewhere). Delay that the event loop did not cause itself.
   */
  runQueueWaitMsPerS: number | null;
  /** CPU time of this process over wall time, in CPUs: server, argon2 threads and the client workers. */
  processCpus: number;
  /** CPU time of the whole machine over wall time, in CPUs; above `processCpus`: a noisy neighbour. */
  machineCpus: number;
}

interface PhaseResult {
  /** /api/me as the measuring client saw it. */
  me: LatencySummary;
  meFailures: number;
  server: ServerSide;
  login: (LatencySummary & { perSecond: number; statuses: Record<string, number> }) | null;
}

const LOOP_RESOLUTION_MS = 10;

/** Busy milliseconds of all CPUs of the machine since boot. */
function machineBusyMs(): number {
  return os.cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0);
}

/** Nanoseconds the main thread has spent runnable but not running; its thread id is the process id. */
function runQueueWaitNs(): number | null {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').trim().split(/\s+/);
    const wait = Number(fields[1]);
    return Number.isFinite(wait) ? wait : null;
  } catch {
    return null;
  }
}

/** Times every /api/me inside the server, before Fastify sees the request. */
function timeServerSide(server: Server): { start(): void; stop(): number[] } {
  let samples: number[] | null = null;
  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const bucket = samples;
    if (bucket === null || request.url !== '/api/me') return;
    const started = performance.now();
    response.once('finish', () => bucket.push(performance.now() - started));
  });
  return {
    start() {
      samples = [];
    },
    stop() {
      const taken = samples ?? [];
      samples = null;
      return taken;
    },
  };
}

/** Watches the server thread (and the machine) for one measured window. */
function watchServer(meTimer: ReturnType<typeof timeServerSide>): () => ServerSide {
  // The histogram records the time between two ticks of a timer of this period; the delay is the excess.
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  histogram.enable();
  meTimer.start();
  const utilization = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const machineBusy = machineBusyMs();
  const runQueueWait = runQueueWaitNs();
  const started = performance.now();
  return () => {
    histogram.disable();
    const me = summarize(meTimer.stop());
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const waitedNs = runQueueWait === null ? null : (runQueueWaitNs() ?? runQueueWait) - runQueueWait;
    const delay = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
    return {
      me,
      loopDelay: {
        p50Ms: delay(histogram.percentile(50)),
        p99Ms: delay(histogram.percentile(99)),
        maxMs: delay(histogram.max),
      },
      loopUtilization: performance.eventLoopUtilization(utilization).utilization,
      runQueueWaitMsPerS: waitedNs === null ? null : waitedNs / 1e6 / (wallMs / 1000),
      processCpus: (used.user + used.system) / 1000 / wallMs,
      machineCpus: (machineBusyMs() - machineBusy) / wallMs,
    };
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Target {
  baseUrl: string;
  accessToken: string;
  emails: string[];
  meTimer: ReturnType<typeof timeServerSide>;
}

async function idlePhase(target: Target, settings: Settings): Promise<PhaseResult> {
  const probe = startWorker<ProbeResult>({
    kind: 'probe',
    baseUrl: target.baseUrl,
    accessToken: target.accessToken,
    delayMs: 0,
    durationMs: settings.idleMs,
    warmup: settings.warmupRequests,
  });
  await probe.ready;
  const stop = watchServer(target.meTimer);
  probe.go();
  const result = await probe.result;
  const server = stop();
  return { me: summarize(result.latenciesMs), meFailures: result.failures, server, login: null };
}

async function stormPhase(target: Target, settings: Settings): Promise<PhaseResult> {
  const measuredMs = settings.stormMs - 2 * settings.edgeMs;
  const probe = startWorker<ProbeResult>({
    kind: 'probe',
    baseUrl: target.baseUrl,
    accessToken: target.accessToken,
    delayMs: settings.edgeMs,
    durationMs: measuredMs,
    warmup: settings.warmupRequests,
  });
  const storm = startWorker<StormResult>({
    kind: 'storm',
    baseUrl: target.baseUrl,
    emails: target.emails,
    clients: settings.stormClients,
    durationMs: settings.stormMs,
  });
  await Promise.all([probe.ready, storm.ready]);
  storm.go();
  probe.go();
  await sleep(settings.edgeMs);
  const stop = watchServer(target.meTimer);
  await sleep(measuredMs);
  const server = stop();
  const [probeResult, stormResult] = await Promise.all([probe.result, storm.result]);
  return {
    me: summarize(probeResult.latenciesMs),
    meFailures: probeResult.failures,
    server,
    login: {
      ...summarize(stormResult.latenciesMs),
      perSecond: stormResult.logins / (stormResult.elapsedMs / 1000),
      statuses: stormResult.statuses,
    },
  };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells.map((cell, column) =>
      column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
    );
  return [
    line(header).join('  '),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map((row) => line(row).join('  ')),
  ].join('\n');
}

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

function report(idle: PhaseResult, storm: PhaseResult, heading: string[]): string {
  const phases: Array<[string, PhaseResult]> = [
    ['idle', idle],
    ['login storm', storm],
  ];
  const ratio = storm.me.p99Ms / idle.me.p99Ms;
  const login = storm.login;
  const neighbours = phases
    .map(([name, phase]) => ({ name, others: phase.server.machineCpus - phase.server.processCpus }))
    .filter(({ others }) => others > 0.25)
    .map(
      ({ name, others }) => `note: other processes kept ${fixed(others)} CPUs busy during the ${name} phase`,
    );
  return [
    ...heading,
    '',
    'GET /api/me (ms)            client side                    server side',
    table(
      ['phase', 'requests', 'p50', 'p99', 'max', 'p50', 'p99', 'max', 'failed'],
      phases.map(([name, phase]) => [
        name,
        String(phase.me.count),
        fixed(phase.me.p50Ms),
        fixed(phase.me.p99Ms),
        fixed(phase.me.maxMs),
        fixed(phase.server.me.p50Ms),
        fixed(phase.server.me.p99Ms),
        fixed(phase.server.me.maxMs),
        String(phase.meFailures),
      ]),
    ),
    '',
    'server thread               event-loop delay (ms)',
    table(
      ['phase', 'p50', 'p99', 'max', 'loop busy', 'run-queue wait', 'CPUs process / machine'],
      phases.map(([name, phase]) => [
        name,
        fixed(phase.server.loopDelay.p50Ms),
        fixed(phase.server.loopDelay.p99Ms),
        fixed(phase.server.loopDelay.maxMs),
        `${fixed(phase.server.loopUtilization * 100, 0)} %`,
        phase.server.runQueueWaitMsPerS === null ? '–' : `${fixed(phase.server.runQueueWaitMsPerS, 0)} ms/s`,
        `${fixed(phase.server.processCpus)} / ${fixed(phase.server.machineCpus)}`,
      ]),
    ),
    '',
    'logins during the storm',
    table(
      ['logins', 'logins/s', 'p50 ms', 'p99 ms', 'max ms', 'statuses'],
      [
        [
          String(login?.count ?? 0),
          fixed(login?.perSecond ?? Number.NaN, 1),
          fixed(login?.p50Ms ?? Number.NaN, 1),
          fixed(login?.p99Ms ?? Number.NaN, 1),
          fixed(login?.maxMs ?? Number.NaN, 1),
          Object.entries(login?.statuses ?? {})
            .map(([status, count]) => `${status}×${count}`)
            .join(' '),
        ],
      ],
    ),
    '',
    ...neighbours,
    `/api/me p99 during the storm / idle p99 = ${fixed(ratio)}× (target ≤ ${TARGET_RATIO}×): ` +
      (ratio <= TARGET_RATIO ? 'PASS' : 'FAIL'),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, json: { type: 'string' } } });
  const quick = values.quick === true;
  const settings = quick ? QUICK : FULL;

  const { buildApp } = await import('../src/server/app.js');
  const { loadConfig } = await import('../src/server/config.js');
  const { DEFAULT_ARGON2 } = await import('../src/auth/passwords.js');

  const dataDir = await mkdtemp(join(os.tmpdir(), 'latchkey-bench-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LATCHKEY_DATA_DIR: dataDir,
    DATABASE_URL: `sqlite:${join(dataDir, 'latchkey.sqlite')}`,
    LOG_LEVEL: 'silent',
  });
  // Production wiring: default argon2 parameters, hasher bound and throttle; only the logs are off.
  const app = await buildApp(config, { logger: false });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;

    process.stdout.write(`registering ${settings.users} users (argon2id, production parameters)…\n`);
    const emails = Array.from({ length: settings.users }, (_, index) => `bench-${index}@example.com`);
    // Set-up through the service: registration is throttled per client IP, so each user gets its own.
    await Promise.all(
      emails.map((email, index) =>
        app.latchkey.service.register(email, PASSWORD, { ip: `198.51.100.${index + 1}`, userAgent: 'bench' }),
      ),
    );
    const login = await fetch(`${baseUrl}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: emails[0], password: PASSWORD, refresh_in: 'body' }),
    });
    if (login.status !== 200) {
      throw new Error(`set-up login failed with ${login.status}: ${await login.text()}`);
    }
    const { access_token: accessToken } = (await login.json()) as { access_token: string };
    const target: Target = { baseUrl, accessToken, emails, meTimer: timeServerSide(app.server) };

    process.stdout.write(`idle phase: /api/me for ${settings.idleMs / 1000} s…\n`);
    const idle = await idlePhase(target, settings);
    process.stdout.write(
      `storm phase: ${settings.stormClients} clients logging in for ${settings.stormMs / 1000} s, ` +
        '/api/me measured meanwhile…\n',
    );
    const storm = await stormPhase(target, settings);

    const cpus = os.cpus();
    const argon2 = DEFAULT_ARGON2;
    const heading = [
      '',
      `Latchkey login benchmark${quick ? ' (quick)' : ''}`,
      `node ${process.version} · ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'} · ` +
        `UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
      `${config.alg} · argon2id m=${argon2.memoryCost} KiB t=${argon2.timeCost} p=${argon2.parallelism} · ` +
        `SQLite file (WAL, synchronous=FULL) · ${settings.users} users · ` +
        `${settings.stormClients} storm clients`,
    ];
    process.stdout.write(report(idle, storm, heading));

    if (values.json !== undefined) {
      const ratio = storm.me.p99Ms / idle.me.p99Ms;
      const figures = {
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? null,
        uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? null,
        alg: config.alg,
        argon2,
        quick,
        settings,
        idle,
        storm,
        ratio,
        targetRatio: TARGET_RATIO,
        pass: ratio <= TARGET_RATIO,
      };
      await writeFile(values.json, `${JSON.stringify(figures, null, 2)}\n`);
      process.stdout.write(`wrote ${values.json}\n`);
    }
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await workerMain();
