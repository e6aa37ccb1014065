/**
 * `latchkey sessions list <email>`, `latchkey sessions revoke <sid>` and `--user <email>`. Revoked sessions reach every running
 * instance at once over Redis when REDIS_URL is set, and through the store's revocation feed within a
 * second in any case; their refresh tokens stop working at once, and their access tokens are refused
 * by the instances' own routes.
 */
import type { Command } from 'commander';
import type { CLIContext } from '../context.js';
import { CLIError, usageError } from '../context.js';
import { countOf, formatTable, formatTime } from '../format.js';

const whose = (owner: { email: string } | null) => (owner === null ? '' : ` of ${owner.email}`);

export function registerSessionsCommand(program: Command, context: CLIContext): void {
  const sessions = program.command('sessions').description('list and revoke sessions (logins)');

  sessions
    .command('list')
    .description("list a user's live sessions, newest first: neither revoked nor expired")
    .argument('<email>')
    .action(async (emailInput: string) => {
      await context.withAdmin(async (admin) => {
        const { user, sessions: live } = await admin.listUserSessions(emailInput);
        if (live.length === 0) {
          context.print(`no live sessions of ${user.email}`);
          return;
        }
        // The session ends at whichever comes first: idle (each refresh moves it) or absolute.
        const rows = live.map((session) => [
          session.id,
          formatTime(session.createdAt),
          formatTime(session.lastUsedAt),
          formatTime(Math.min(session.idleExpiresAt, session.expiresAt)),
          session.ip ?? '',
          session.userAgent ?? '',
        ]);
        context.io.stdout(formatTable(['ID', 'CREATED', 'LAST USED', 'ENDS', 'IP', 'USER AGENT'], rows));
      });
    });

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
      await context.withAdmin(async (admin) => {
        if (flags.user !== undefined) {
          const { user, revoked } = await admin.revokeUserSessions(flags.user);
          context.print(`revoked ${countOf(revoked.length, 'session')} of ${user.email}`);
          return;
        }
        const id = sid as string;
        const result = await admin.revokeSession(id);
        switch (result.outcome) {
          case 'unknown':
            throw new CLIError(`no session with id ${id}`);
          case 'already-revoked': {
            const { revokedAt, revokedReason } = result.session;
            const why = revokedReason === null ? '' : ` (${revokedReason})`;
            context.print(`session ${id} was revoked already at ${formatTime(revokedAt ?? 0)}${why}`);
            return;
          }
          case 'expired':
            context.print(`session ${id}${whose(result.owner)} has expired already; nothing to revoke`);
            return;
          case 'revoked':
            context.print(`revoked session ${id}${whose(result.owner)}`);
        }
      });
    });
}
