/**
 * The `latchkey` command. `buildProgram(io)` wires every command to the given output, input and
 * environment, so tests run commands in-process; `main()` runs it on the real process.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { LatchkeyError, StoreError } from '../errors.js';
import { CONFIGURATION_REFUSED, ConfigError } from '../server/config.js';
import { standardStreamsGuarded } from '../server/standard-streams.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSessionsCommand } from './commands/sessions.js';
import { registerTokenCommand } from './commands/token.js';
import { registerUsersCommand } from './commands/users.js';
import { CLIContext, CLIError, type CLIIO, type CLIOptions } from './context.js';

export type { CLIIO, CLIOptions } from './context.js';

export interface CLIProgram {
  program: Command;
  /** Runs the command line (without `node` and the script) and returns the exit code. */
  run(args: readonly string[]): Promise<number>;
}

export function buildProgram(io: CLIIO, options: CLIOptions = {}): CLIProgram {
  const context = new CLIContext(io, options);
  const program = new Command('latchkey')
    .description('Latchkey: a self-hostable JWT auth server. Configuration comes from the environment.')
    // Set before any subcommand exists: commander copies these settings into each one.
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)')
    .version(packageVersion(), '-V, --version', 'print the version of Latchkey');
  registerServeCommand(program, context);
  registerMigrateCommand(program, context);
  registerUsersCommand(program, context);
  registerSessionsCommand(program, context);
  registerKeysCommand(program, context);
  registerTokenCommand(program, context);
  return {
    program,
    async run(args) {
      try {
        await program.parseAsync([...args], { from: 'user' });
        return context.exitCode;
      } catch (error) {
        return report(error, io, args);
      }
    },
  };
}

/** The version in package.json: two directories up from src/cli/ and from dist/cli/ alike. */
function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('../../package.json') as { version: string }).version;
}

/**
 * What Commander's "unknown option '…'" names when it is more likely a value than a mistyped option
 * (one dash, as there are no short options to mistype, or an email); null otherwise.
 */
function valueTakenForOption(message: string): string | null {
  const token = /unknown option '([^']*)'/.exec(message)?.[1] ?? '';
  return !token.startsWith('--') || token.includes('@') ? token : null;
}

/** The command line as it should have been: the value after `--`, every option before it. */
function withValueAfterDashes(args: readonly string[], value: string): string {
  const others = args.filter((arg) => arg !== value);
  return ['latchkey', ...others, '--', value].join(' ');
}

/** One line for every expected failure; the exit code says which kind it was. */
function report(error: unknown, io: CLIIO, args: readonly string[]): number {
  // Commander has printed its own message (or the help) already.
  if (error instanceof CommanderError) {
    const value = error.code === 'commander.unknownOption' ? valueTakenForOption(error.message) : null;
    if (value !== null && args.includes(value)) {
      io.stderr(
        'latchkey: a value that starts with "-" (an email, a session or key id) goes after "--", ' +
          `with the options before it: ${withValueAfterDashes(args, value)}\n`,
      );
    }
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ConfigError) {
    io.stderr(`latchkey: invalid configuration: ${error.message}\n`);
    return CONFIGURATION_REFUSED;
  }
  if (error instanceof CLIError) {
    io.stderr(`latchkey: ${error.message}\n`);
    return error.exitCode;
  }
  // The store's failures are the environment's; their code names the entry of docs/errors.md that
  // says what to do, as the server's start-up line does.
  if (error instanceof StoreError) {
    io.stderr(`latchkey: ${error.message} (${error.code})\n`);
    return 1;
  }
  // Domain errors (a bad email, a short password) carry messages written for people, without secrets.
  if (error instanceof LatchkeyError) {
    io.stderr(`latchkey: ${error.message}\n`);
    return 1;
  }
  // Anything else is the environment (a database that cannot be opened) or a bug: say what, and why.
  const messages: string[] = [];
  for (let cause: unknown = error; cause instanceof Error && messages.length < 5; cause = cause.cause) {
    messages.push(cause.message);
  }
  io.stderr(`latchkey: ${messages.length === 0 ? String(error) : messages.join(': ')}\n`);
  if (io.env.LATCHKEY_DEBUG && error instanceof Error && error.stack !== undefined)
    io.stderr(`${error.stack}\n`);
  return 1;
}

export async function main(args: readonly string[] = process.argv.slice(2)): Promise<void> {
  const io: CLIIO = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    stdin: process.stdin,
  };
  process.stdout.on('error', stdoutBroken);
  // exitCode rather than exit(): pending output is written in full before the process ends.
  process.exitCode = await buildProgram(io).run(args);
}

/**
 * stdout's reader went away (`latchkey users list | head -1`): it wants nothing more, so the command
 * ends quietly, as Unix tools do. `serve` handles its own (standard-streams.ts): a server keeps serving.
 */
function stdoutBroken(error: NodeJS.ErrnoException): void {
  if (standardStreamsGuarded()) return;
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`latchkey: writing to standard output failed (${error.code ?? error.message})\n`);
  process.exit(1);
}

const script = process.argv[1];
if (script !== undefined && import.meta.url === pathToFileURL(script).href) {
  await main();
}
