/**
 * The server's stdout (its log and its start-up line) and stderr may lose their reader at any time:
 * `latchkey serve | head -1`, a log shipper that died. Writes then fail with EPIPE. Unhandled, that
 * failure is an 'error' event on `process.stdout`, thrown as an uncaught exception: the process ends,
 * and with pino's asynchronous destination it never finished ending (see `stdoutDestination`), so the
 * server answered nothing and ignored SIGTERM. Here a broken stdout is said once on stderr and the
 * server goes on without its log; a broken stderr is ignored, as there is nowhere left to say anything.
 */

let guarded = false;
let stdoutReported = false;

/** From now on, failures of `process.stdout` and `process.stderr` are handled, not thrown. Idempotent. */
export function guardStandardStreams(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', stdoutFailed);
  // Nowhere left to report it: what is written to stderr is lost, and nothing else changes.
  process.stderr.on('error', () => {});
}

/** Whether a server has taken over the handling of its standard streams' failures. */
export function standardStreamsGuarded(): boolean {
  return guarded;
}

/**
 * A write to stdout failed: says so once on stderr. Never throws and never waits: stderr may be
 * broken too, and then its failure is an 'error' event that `guardStandardStreams` swallows.
 */
export function stdoutFailed(error: unknown): void {
  if (stdoutReported) return;
  stdoutReported = true;
  guardStandardStreams();
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const line =
    code === 'EPIPE'
      ? 'standard output is closed (EPIPE: its reader went away): log lines are dropped from now on'
      : `writing to standard output failed (${code ?? String(error)}): log lines may be lost`;
  try {
    process.stderr.write(`latchkey: ${line}; the server keeps serving\n`);
  } catch {
    // A stderr that is already destroyed or ended: nothing to do.
  }
}
