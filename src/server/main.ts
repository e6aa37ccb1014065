/** Starts one Latchkey instance: configuration from the environment, then listen. */
import { pathToFileURL } from 'node:url';
import { LatchkeyError } from '../errors.js';
import { type BuildAppOptions, buildApp } from './app.js';
import { CONFIGURATION_REFUSED, ConfigError, loadConfig, type ServerConfig } from './config.js';
import { tierUpServerCode } from './jit-tiering.js';
import { guardStandardStreams } from './standard-streams.js';

export interface StartServerOptions extends BuildAppOptions {
  /**
   * Print the "listening" line (default true). Workers of `latchkey serve --workers N` leave it to
   * the primary, which prints it once every worker listens.
   */
  announce?: boolean;
}

export async function startServer(
  config: ServerConfig,
  { announce = true, ...options }: StartServerOptions = {},
): Promise<() => Promise<void>> {
  // A stdout or stderr whose reader goes away (EPIPE) must neither end the server nor hang it.
  guardStandardStreams();
  // Before the app's code first runs, so that its functions start with the server's budget.
  tierUpServerCode();
  const app = await buildApp(config, options);
  if (config.masterKey === null) {
    app.log.warn(
      'LATCHKEY_MASTER_KEY is not set: private signing keys are stored unencrypted. Set it to 32 random bytes (openssl rand -hex 32).',
    );
  }
  for (const warning of app.latchkey.warnings) app.log.warn(warning);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    throw listenFailure(config, error) ?? error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  if (announce) process.stdout.write(`${listeningLine(config, port)}\n`);
  return () => app.close();
}

/**
 * Why the port could not be taken, as the setting to change: one line instead of a stack trace. The
 * system's code stays in the message (scripts that pick a port and retry look for EADDRINUSE).
 */
function listenFailure(config: ServerConfig, error: unknown): ConfigError | null {
  const code = (error as { code?: unknown } | null)?.code;
  const where = `${config.host}:${config.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(
        'PORT',
        `${where} is in use by another process (EADDRINUSE): stop it, or set PORT to a free port`,
      );
    case 'EACCES':
      return new ConfigError(
        'PORT',
        `this user may not listen on ${where} (EACCES): ports below 1024 need privileges; set PORT to 1024 or more`,
      );
    case 'EADDRNOTAVAIL':
      return new ConfigError(
        'HOST',
        `${config.host} is not an address of this machine (EADDRNOTAVAIL): set HOST to one (0.0.0.0 for all)`,
      );
    default:
      return null;
  }
}

/** The line that says a server is up, and where: what scripts and tests wait for. */
export function listeningLine(config: ServerConfig, port: number, detail = ''): string {
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const host = shownHost.includes(':') ? `[${shownHost}]` : shownHost;
  return `Latchkey is listening on http://${host}:${port} (issuer ${config.issuer}${detail})`;
}

export async function main(options: StartServerOptions = {}): Promise<void> {
  let stop: () => Promise<void>;
  try {
    stop = await startServer(loadConfig(), options);
  } catch (error) {
    // Configuration, as the environment has it or as only the stored state shows it wrong (a master key
    // that opens no stored key).
    if (error instanceof ConfigError) {
      process.stderr.write(`latchkey: invalid configuration: ${error.message}\n`);
      process.exit(CONFIGURATION_REFUSED);
    }
    // A database that cannot be opened (unreachable, login refused, …): its message says why, for people.
    if (error instanceof LatchkeyError) {
      process.stderr.write(`latchkey: cannot start: ${error.message} (${error.code})\n`);
      process.exit(1);
    }
    throw error;
  }
  let stopping = false;
  // A cluster's primary speaks for its workers, as it does when they start.
  const say = (line: string) => {
    if (!options.clusterWorker) process.stdout.write(`${line}\n`);
  };
  const shutdown = (why: string) => {
    // Once: Ctrl-C reaches a cluster's workers and its primary, which then sends SIGTERM as well.
    if (stopping) return;
    stopping = true;
    say(`Latchkey is stopping (${why}): finishing the requests in flight`);
    stop().then(
      () => {
        say('Latchkey stopped');
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  // A cluster worker whose primary is gone (killed, say) has no one to restart it or to stop it.
  if (options.clusterWorker) process.once('disconnect', () => shutdown('its primary is gone'));
}

const script = process.argv[1];
// pathToFileURL, not a hand-built file:// string: paths with spaces or non-ASCII characters are escaped.
if (script !== undefined && import.meta.url === pathToFileURL(script).href) {
  await main();
}
