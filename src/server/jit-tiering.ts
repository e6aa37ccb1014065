/**
 * When V8 optimizes a server's code. On Node 20 (V8 11), V8 moves a function to its optimizing
 * compiler once the function has run enough bytecode (its "interrupt budget", 67,584, spent several
 * times over). That threshold suits code that runs thousands of times a second, as most routes here
 * do. A login does not: argon2 bounds it to tens a second per core, so its code (the request, the
 * store's writes, the token, the reply, the log line) kept running unoptimized for minutes. Measured
 * with 16 clients logging in, server pinned to one core, three runs each way: the event loop spent
 * 2.4–2.7 ms per login at the default budget and 1.9–2.2 ms at a quarter of it, beside argon2's
 * 11–13 ms.
 *
 * A quarter of the default budget optimizes the rarely run but costly paths sooner; what runs often
 * was optimized early anyway. An operator's own `node --interrupt-budget=N` is kept. Later V8s (Node
 * 22 on) tier up by call counts and have no such flag: there V8 is left as it is, since an unknown
 * flag would only print an error at every start.
 */
import { setFlagsFromString } from 'node:v8';

export const SERVER_INTERRUPT_BUDGET = 16_384;

/** V8 11, Node 20's, has the flag; V8 12 (Node 22) dropped it. */
function hasInterruptBudget(v8Version: string): boolean {
  return v8Version.split('.')[0] === '11';
}

/**
 * The V8 flag to set for a process with Node options `execArgv` on V8 `v8Version`, or null to leave
 * V8 as it is.
 */
export function interruptBudgetFlag(execArgv: readonly string[], v8Version: string): string | null {
  if (!hasInterruptBudget(v8Version)) return null;
  // V8 reads `--interrupt_budget` as the same flag.
  const given = execArgv.some((arg) => /^--(?:no-)?interrupt[-_]budget(?:=|$)/.test(arg));
  return given ? null : `--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`;
}

/** Sets the server's interrupt budget for the rest of the process, where V8 has one. Idempotent. */
export function tierUpServerCode(): void {
  const flag = interruptBudgetFlag(process.execArgv, process.versions.v8);
  if (flag !== null) setFlagsFromString(flag);
}
