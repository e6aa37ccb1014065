/**
 * `latchkey sessions revoke <sid>` and `--user <email>`. Revoked sessions reach every running
 * instance through the store's revocation feed within a second; their refresh tokens stop working at
 * once, and their access tokens are refused by the instances' own routes.
 */
import type { Command } from 'commander';
import type { CLIContext } from '../context.js';
import { CLIError, usageError } from '../context.js';
import { countOf, formatTime } from '../format.js';
import { requireUser } from '../lookup.js';

const REASON = 'revoked_by_admin';

export function registerSessionsCommand(program: Command, context: CLIContext): void {
  const sessions = program.command('sessions').description('revoke sessions (logins)');

  sessions
    .command('revoke')
    .description('revoke one session by its id (the sid claim), or every session of a user')
    .argument('[sid]', 'the session id, as `token inspect` shows it')
    .option('--user <email>', 'revoke all sessions of this user instead')
    // A sid is base64url and may start with "-": read it as the argument, never as an option.
    .allowUnknownOption()
    .action(async (sid: string | undefined, flags: { user?: string }) => {
      if (sid !== undefined && flags.user !== undefined) {
        throw usageError('name a session id or --user <email>, not both');
      }
      if (sid === undefined && flags.user === undefined)
        throw usageError('name a session id, or --user <email>');
      await context.withStore(async (store) => {
        const at = context.now();
        if (flags.user !== undefined) {
          const user = await requireUser(store, flags.user);
          const revoked = await store.revokeUserSessions(user.id, at, REASON);
          context.print(`revoked ${countOf(revoked.length, 'session')} of ${user.email}`);
          return;
        }
        const id = sid as string;
        const before = await store.findSession(id);
        if (before === null) throw new CLIError(`no session with id ${id}`);
        if (before.revokedAt !== null) {
          const why = before.revokedReason === null ? '' : ` (${before.revokedReason})`;
          context.print(`session ${id} was revoked already at ${formatTime(before.revokedAt)}${why}`);
          return;
        }
        const after = await store.revokeSession(id, at, REASON);
        const owner = await store.findUserById(before.userId);
        const whose = owner === null ? '' : ` of ${owner.email}`;
        if (after?.revokedAt === null) {
          // The store revokes only live sessions: this one had ended on its own.
          context.print(`session ${id}${whose} has expired already; nothing to revoke`);
          return;
        }
        context.print(`revoked session ${id}${whose}`);
      });
    });
}
