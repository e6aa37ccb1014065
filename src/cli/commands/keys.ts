/**
 * `latchkey keys list|rotate|reseal|revoke`. They see the keys as a server would after its start-up
 * maintenance (missing keys created, expired ones removed). Only public facts are printed, never key
 * material.
 */
import type { Command } from 'commander';
import { resealSecret } from '../../auth/sealed-secrets.js';
import type { KeyRevocation } from '../../auth/signing-keys.js';
import { REFRESH_SECRET } from '../../server/runtime.js';
import type { CLIContext } from '../context.js';
import { CLIError } from '../context.js';
import { formatTable, formatTime } from '../format.js';

export function registerKeysCommand(program: Command, context: CLIContext): void {
  const keys = program.command('keys').description('list, rotate, reseal and revoke the signing keys');

  keys
    .command('list')
    .description(
      'list the signing keys: the next one, the active one, retired ones still published, and revoked ones',
    )
    .action(async () => {
      await context.withStoredKeys(async (keys) => {
        const rows = keys
          .list()
          .map((key) => [
            key.kid,
            key.alg,
            key.state,
            formatTime(key.activatesAt),
            formatTime(key.revokedAt ?? key.retiresAt),
            key.state === 'revoked' ? '-' : formatTime(key.expiresAt),
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
      'start signing with the new key at once; verifiers that have not refetched the JWKS yet ' +
        'refuse its tokens until they do',
    )
    .option('--revoke', 'the active key is compromised: revoke it, and a new key signs at once')
    .action(async (options: { now?: boolean; revoke?: boolean }) => {
      await context.withRuntime(async (runtime) => {
        if (options.revoke === true) {
          const active = runtime.keys.list().filter((key) => key.state === 'active');
          const [signing] = active;
          if (signing === undefined) throw new CLIError('no key is signing now; nothing to revoke');
          // Secrets (HS*) and key pairs each have an active key after LATCHKEY_ALG moved between them;
          // which one the servers sign with is their setting, not this process's: never guess.
          if (active.length > 1) {
            const names = active.map((key) => `${key.kid} (${key.alg})`).join(', ');
            throw new CLIError(
              `more than one key is active: ${names}. The servers sign with the one of their LATCHKEY_ALG's kind; revoke it by kid: latchkey keys revoke KID`,
            );
          }
          reportRevocation(context, signing.kid, await runtime.keys.revoke(signing.kid));
          return;
        }
        const kid = await runtime.keys.rotate(options.now === true ? 0 : undefined);
        context.print(kid);
        context.io.stderr(
          options.now === true
            ? 'new active signing key; running servers sign with it within a second\n'
            : 'new signing key published; it starts signing in 10 minutes\n',
        );
      });
    });

  keys
    .command('reseal')
    .description(
      'after LATCHKEY_MASTER_KEY changed: seal every stored key and secret with it, from LATCHKEY_MASTER_KEY_PREVIOUS ' +
        '(or from no sealing, when a master key is set for the first time); the keys themselves stay',
    )
    .action(async () => {
      await context.withStoredKeys(async (keys, store, config) => {
        const { resealed, unchanged, unreadable } = await keys.reseal();
        // reseal() has refused a missing master key already.
        const masterKeys = { ...config, masterKey: config.masterKey as Buffer };
        const secret = await resealSecret(store, REFRESH_SECRET.name, masterKeys, REFRESH_SECRET.create);
        const lines = [
          ...resealed.map((kid) => `resealed ${kid}`),
          ...unchanged.map((kid) => `${kid} is sealed with LATCHKEY_MASTER_KEY already`),
          secret === 'resealed'
            ? 'resealed the refresh-token secret'
            : secret === 'unchanged'
              ? 'the refresh-token secret is sealed with LATCHKEY_MASTER_KEY already'
              : null,
        ].filter((line) => line !== null);
        if (lines.length > 0) context.print(lines.join('\n'));
        const unreadableLines = [
          ...unreadable.map(({ kid, reason }) => `${kid} (${reason})`),
          ...(typeof secret === 'object' ? [`the refresh-token secret (${secret.unreadable})`] : []),
        ];
        if (unreadableLines.length > 0) {
          throw new CLIError(`not resealed, as neither master key opens them: ${unreadableLines.join('; ')}`);
        }
        const anyResealed = resealed.length > 0 || secret === 'resealed';
        // A server still running without this key keeps the keys it opened, and so looks fine until
        // it restarts: say it now, while the operator is at it.
        const restart =
          'every server must now start with this LATCHKEY_MASTER_KEY; one started without it cannot open them\n';
        const previousCanGo =
          config.previousMasterKey === null ? '' : ': LATCHKEY_MASTER_KEY_PREVIOUS can go';
        context.io.stderr(
          anyResealed
            ? `every stored key and secret is sealed with LATCHKEY_MASTER_KEY${previousCanGo}\n${restart}`
            : 'nothing to reseal\n',
        );
      });
    });

  keys
    .command('revoke')
    .description(
      'a key is compromised: take it out of signing and out of the JWKS at once; every server refuses ' +
        'its tokens within a second',
    )
    .argument('<kid>', 'the key id, as `keys list` shows it')
    // A kid is base64url and may start with "-": read it as the argument, never as an option.
    .allowUnknownOption()
    .action(async (kid: string) => {
      await context.withRuntime(async (runtime) => {
        reportRevocation(context, kid, await runtime.keys.revoke(kid));
      });
    });
}

function reportRevocation(context: CLIContext, kid: string, revocation: KeyRevocation): void {
  if (revocation.outcome === 'unknown') throw new CLIError(`no signing key with kid ${kid}`);
  if (revocation.outcome === 'already-revoked') {
    context.print(`signing key ${kid} was revoked already at ${formatTime(revocation.revokedAt)}`);
    return;
  }
  const lines = [`revoked signing key ${kid}`];
  if (revocation.replacementKid !== null)
    lines.push(`new signing key ${revocation.replacementKid} signs from now on`);
  lines.push(
    '',
    'What happens now:',
    `- Every Latchkey server refuses tokens signed by ${kid} within a second, and its JWKS no longer lists it.`,
    '- Sessions stay valid: a client whose access token was signed by the revoked key gets 401,',
    '  refreshes, and receives a token signed by the new key.',
    '',
    'What to do next:',
    '- Resource servers that verify with a cached JWKS accept the revoked key until they refetch it',
    '  (it is cacheable for 5 minutes): restart them, or clear their cache, to refuse it at once.',
    '- Find out how the key leaked. If the database or LATCHKEY_MASTER_KEY leaked with it, every stored',
    '  key is exposed: revoke each key `latchkey keys list` shows, and the sessions of every user',
    '  (`latchkey sessions revoke --user EMAIL`).',
  );
  context.print(lines.join('\n'));
}
