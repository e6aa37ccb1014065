/**
 * `latchkey users add|list|disable|enable|roles` (roles in user-roles.ts). Adding a user normalises and hashes exactly as registration
 * does (same functions, same argon2 parameters), but without registration's per-IP throttle: the
 * operator at the console is not a client on the network. Passwords never come from argv.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { normalizeEmail } from '../../auth/emails.js';
import { normalizePassword } from '../../auth/passwords.js';
import { StoreError } from '../../errors.js';
import type { UserRecord } from '../../store/types.js';
import { type CLIContext, CLIError, usageError } from '../context.js';
import { countOf, formatTable, formatTime } from '../format.js';
import { requireUser } from '../lookup.js';
import { promptHidden, readFirstLine } from '../prompt.js';
import { registerUserRolesCommand } from './user-roles.js';

export function registerUsersCommand(program: Command, context: CLIContext): void {
  const users = program
    .command('users')
    .description("add, list, disable and enable users; manage users' roles");

  users
    .command('add')
    .description('add a user; the password comes from --password-stdin or a prompt, never the command line')
    .argument('<email>', 'the new user’s email address')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(async (emailInput: string, flags: { passwordStdin?: boolean }) => {
      const email = normalizeEmail(emailInput);
      await context.withStore(async (store) => {
        // Before asking for a password, so nobody types one for nothing.
        if ((await store.findUserByEmail(email)) !== null) throw emailTaken(email);
        const password = normalizePassword(await readPassword(context, flags.passwordStdin === true));
        const passwordHash = await context.passwordHasher().hash(password);
        let user: UserRecord;
        try {
          // The id has the shape AuthService.register gives it.
          user = await store.createUser({
            id: randomBytes(16).toString('base64url'),
            email,
            passwordHash,
            createdAt: context.now(),
          });
        } catch (error) {
          if (error instanceof StoreError && error.code === 'ERR_STORE_CONFLICT') throw emailTaken(email);
          throw error;
        }
        // The id alone on stdout, so that `id=$(latchkey users add …)` works; the note for people on stderr.
        context.io.stderr(`added user ${user.email}\n`);
        context.print(user.id);
      });
    });

  users
    .command('list')
    .description('list every user')
    .action(async () => {
      await context.withStore(async (store) => {
        const all = await store.listUsers();
        if (all.length === 0) {
          context.print('no users');
          return;
        }
        const rows = all.map((user) => [
          user.id,
          user.email,
          formatTime(user.createdAt),
          user.disabledAt === null ? 'no' : `since ${formatTime(user.disabledAt)}`,
        ]);
        context.io.stdout(formatTable(['ID', 'EMAIL', 'CREATED', 'DISABLED'], rows));
      });
    });

  users
    .command('disable')
    .description('stop a user from logging in, and revoke all their sessions')
    .argument('<email>')
    .action(async (emailInput: string) => {
      await context.withStore(async (store) => {
        const user = await requireUser(store, emailInput);
        const at = context.now();
        if (user.disabledAt === null) await store.setUserDisabled(user.id, at);
        // After disabling, so that no login can start a session the revocation would miss.
        const revoked = await store.revokeUserSessions(user.id, at, 'user_disabled');
        const state =
          user.disabledAt === null ? 'disabled' : `already disabled since ${formatTime(user.disabledAt)}:`;
        context.print(`${state} ${user.email}; revoked ${countOf(revoked.length, 'session')}`);
      });
    });

  users
    .command('enable')
    .description('let a disabled user log in again')
    .argument('<email>')
    .action(async (emailInput: string) => {
      await context.withStore(async (store) => {
        const user = await requireUser(store, emailInput);
        if (user.disabledAt === null) {
          context.print(`${user.email} is not disabled`);
          return;
        }
        await store.setUserDisabled(user.id, null);
        context.print(`enabled ${user.email}`);
      });
    });

  registerUserRolesCommand(users, context);
}

const emailTaken = (email: string) => new CLIError(`a user with email ${email} exists already`);

async function readPassword(context: CLIContext, fromStdin: boolean): Promise<string> {
  const input = context.io.stdin;
  if (fromStdin) {
    const line = input === undefined ? null : await readFirstLine(input);
    if (line === null) throw new CLIError('--password-stdin: standard input is empty');
    return line;
  }
  if (input?.isTTY !== true) {
    throw usageError(
      'no password: pipe it in with --password-stdin, or run in a terminal to be asked for it',
    );
  }
  const write = context.io.stderr;
  const password = await promptHidden(input, write, 'Password: ');
  // A typo in a hidden password would lock the user out: ask twice.
  if ((await promptHidden(input, write, 'Repeat password: ')) !== password) {
    throw new CLIError('the passwords do not match');
  }
  return password;
}
