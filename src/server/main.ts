/** Starts one Latchkey instance: configuration from the environment, then listen. */
import { pathToFileURL } from 'node:url';
import { LatchkeyError } from '../errors.js';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type ServerConfig } from './config.js';
import { guardStandardStreams } from './standard-streams.js';

export async function startServer(config: ServerConfig): Promise<() => Promise<void>> {
  // A stdout or stderr whose reader goes away (EPIPE) must neither end the server nor hang it.
  guardStandardStreams();
  const app = await buildApp(config);
  if (config.masterKey === null) {
    app.log.warn(
      'LATCHKEY_MASTER_KEY is not set: private signing keys are stored unencrypted. Set it to 32 random bytes (openssl rand -hex 32).',
    );
  }
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  process.stdout.write(
    `Latchkey is listening on http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port} (issuer ${config.issuer})\n`,
  );
  return () => app.close();
}

export async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`latchkey: invalid configuration: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  let stop: () => Promise<void>;
  try {
    stop = await startServer(config);
  } catch (error) {
    // A database that cannot be opened (unreachable, login refused, …): its message says why, for people.
    if (error instanceof LatchkeyError) {
      process.stderr.write(`latchkey: cannot start: ${error.message} (${error.code})\n`);
      process.exit(1);
    }
    throw error;
  }
  const shutdown = () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

const script = process.argv[1];
// pathToFileURL, not a hand-built file:// string: paths with spaces or non-ASCII characters are escaped.
if (script !== undefined && import.meta.url === pathToFileURL(script).href) {
  await main();
}
