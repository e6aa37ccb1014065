/**
 * One load run of the HTTP benchmark: autocannon, in this process, against one server, with the
 * server's CPU time and the machine's read around it. Latency is taken from every response in
 * microsecond detail: autocannon's own histogram keeps whole milliseconds, which at these speeds
 * puts most p99s at 0, 1 or 2.
 */
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
}
type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => EventEmitter;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadOptions {
  url: string;
  token: string;
  connections: number;
  durationSeconds: number;
  /** The server process, whose CPU time is read before and after. */
  serverPid: number;
}

export interface LoadRun {
  /** 200 responses per second of the run. */
  reqPerSec: number;
  p99Ms: number;
  /** Responses other than 200, plus socket errors and timeouts: any of them spoils the run. */
  failures: number;
  serverCpuUsPerReq: number;
  /** Server CPU time over wall time, in cores. */
  serverBusy: number;
  /** CPU time of every other process on the machine over wall time, in cores. */
  othersBusy: number;
}

const TICKS_PER_SECOND = 100;

/** User + system CPU time of a process, in ms (Linux /proc; `null` elsewhere). */
function processCpuMs(pid: number): number | null {
  try {
    // The command name, in parentheses, may hold spaces: count fields after its closing one.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Busy ms of all CPUs of the machine since boot. */
function machineBusyMs(): number {
  return os.cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export async function runLoad(options: LoadOptions): Promise<LoadRun> {
  let latencies = new Float64Array(1 << 16);
  let ok = 0;
  let other = 0;
  const serverBefore = processCpuMs(options.serverPid);
  const ownBefore = process.cpuUsage();
  const machineBefore = machineBusyMs();
  const started = performance.now();
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationSeconds,
        headers: { authorization: `Bearer ${options.token}` },
      },
      (error, done) => (error === null ? resolve(done) : reject(error)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseMs: number) => {
      if (status !== 200) {
        other++;
        return;
      }
      if (ok === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[ok++] = responseMs;
    });
  });
  const wallMs = performance.now() - started;
  const serverAfter = processCpuMs(options.serverPid);
  const own = process.cpuUsage(ownBefore);
  const serverMs = serverBefore === null || serverAfter === null ? Number.NaN : serverAfter - serverBefore;
  const othersMs = machineBusyMs() - machineBefore - serverMs - (own.user + own.system) / 1000;
  const sorted = latencies.subarray(0, ok).sort();
  return {
    reqPerSec: ok / (wallMs / 1000),
    p99Ms: percentile(sorted, 99),
    failures: other + result.errors + result.timeouts,
    serverCpuUsPerReq: (serverMs * 1000) / ok,
    serverBusy: serverMs / wallMs,
    othersBusy: Math.max(0, othersMs / wallMs),
  };
}
