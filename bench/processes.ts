/**
 * Where the HTTP benchmarks run what: every server (and whatever stands in for one) is its own
 * process pinned to core 0, the benchmark itself (the load generator) to core 1, with `taskset`.
 * A server process says it is ready by printing one line of JSON (`{"port":N}`, say) on stdout.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { createInterface, type Interface } from 'node:readline';

export const SERVER_CORE = '0';
export const CLIENT_CORE = '1';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process, every thread of it, to the client core; false when the machine cannot pin. */
export function pinToClientCore(): boolean {
  if (!hasTaskset() || os.cpus().length < 2) return false;
  execFileSync('taskset', ['-a', '-p', '-c', CLIENT_CORE, String(process.pid)], { stdio: 'ignore' });
  return true;
}

/** The command line that runs `argv` on the server core (taskset execs it: the pid stays the same). */
export function onServerCore(argv: readonly string[], pinned: boolean): string[] {
  return pinned ? ['taskset', '-c', SERVER_CORE, ...argv] : [...argv];
}

/** Two lines: the machine, and what runs where (`client`: what this process runs). */
export function describeMachine(pinned: boolean, client: string): string {
  const cpus = os.cpus();
  return [
    `machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${os.platform()} ${os.arch()}; ` +
      `node ${process.version}`,
    pinned
      ? `servers pinned to core ${SERVER_CORE}, ${client} to core ${CLIENT_CORE} (taskset)`
      : 'taskset is missing (or the machine has one core): servers and load generator run unpinned',
  ].join('\n');
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** The JSON line the process printed when it was ready. */
  hello: unknown;
  /** What it prints after that, line by line. */
  lines: Interface;
}

/**
 * Starts `argv` (on the server core when `pinned`) and waits for its first line of stdout, which must
 * be JSON; its stderr goes to ours. Rejects, naming `name`, when it exits before.
 */
export async function startServerProcess(
  name: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  pinned: boolean,
): Promise<ServerProcess> {
  const [command, ...args] = onServerCore(argv, pinned);
  const child = spawn(command as string, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${name}: the process exited with code ${String(code)} before it was ready`);
  });
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  const firstLine = once(lines, 'line').then(([line]) => line as string);
  const line = await Promise.race([firstLine, exited]);
  exited.catch(() => {});
  return { child, pid: child.pid as number, hello: JSON.parse(line) as unknown, lines };
}

/** SIGTERM to each, then waits until every one has exited. */
export async function stopProcesses(children: readonly ChildProcess[]): Promise<void> {
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  const exits = running.map((child) => once(child, 'exit'));
  for (const child of running) child.kill('SIGTERM');
  await Promise.all(exits);
}
