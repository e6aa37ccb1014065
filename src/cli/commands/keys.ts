/**
 * `latchkey keys list|rotate`. Both see the keys as a server would after its start-up maintenance
 * (missing keys created, expired ones removed). Only public facts are printed, never key material.
 */
import type { Command } from 'commander';
import type { CLIContext } from '../context.js';
import { formatTable, formatTime } from '../format.js';

export function registerKeysCommand(program: Command, context: CLIContext): void {
  const keys = program.command('keys').description('list and rotate the signing keys');

  keys
    .command('list')
    .description('list the signing keys: the next one, the active one, and retired ones still published')
    .action(async () => {
      await context.withRuntime(async (runtime) => {
        const list = runtime.keys.list().sort((a, b) => a.activatesAt - b.activatesAt);
        const rows = list.map((key) => [
          key.kid,
          key.alg,
          key.state,
          formatTime(key.activatesAt),
          formatTime(key.retiresAt),
          formatTime(key.expiresAt),
        ]);
        context.io.stdout(formatTable(['KID', 'ALG', 'STATE', 'ACTIVATES', 'RETIRES', 'EXPIRES'], rows));
      });
    });

  keys
    .command('rotate')
    .description(
      'publish a new key that starts signing in 10 minutes (once every server and JWKS cache knows it); ' +
        'the old one stays published until its tokens expire',
    )
    .option(
      '--now',
      'start signing with the new key at once (a compromised key); verifiers that have not ' +
        'refetched the JWKS yet refuse its tokens until they do',
    )
    .action(async (options: { now?: boolean }) => {
      await context.withRuntime(async (runtime) => {
        const kid = await runtime.keys.rotate(options.now === true ? 0 : undefined);
        context.print(kid);
        context.io.stderr(
          options.now === true
            ? 'new active signing key; running servers sign with it within a minute\n'
            : 'new signing key published; it starts signing in 10 minutes\n',
        );
      });
    });
}
