/**
 * `latchkey users add|list|disable|enable|roles` (roles in user-roles.ts), through the domain's admin
 * service. Adding a user creates the account as registration does (same function, same argon2
 * parameters), without registration's per-IP throttle: the operator at the console is not a client
 * on the network. Passwords never come from argv.
 */
import type { Command } from 'commander';
import { newAccountEmail, normalizeEmail } from '../../auth/emails.js';
import { AuthError } from '../../errors.js';
import type { UserRecord } from '../../store/types.js';
import { type CLIContext, CLIError, usageError } from '../context.js';
import { countOf, formatTable, formatTime } from '../format.js';
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
      await context.withAdmin(async (admin) => {
        // Before asking for a password, so nobody types one for nothing.
        newAccountEmail(emailInput);
        const taken = await admin.findUser(emailInput);
        if (taken !== null) throw emailTaken(taken.email);
        const password = await readPassword(context, flags.passwordStdin === true);
        let user: UserRecord;
        try {
          user = await admin.addUser(emailInput, password);
        } catch (error) {
          if (error instanceof AuthError && error.code === 'ERR_EMAIL_TAKEN') {
            throw emailTaken(normalizeEmail(emailInput));
          }
          throw error;
        }
        // The id alone on stdout, so that `id=$(latchkey users add …)` works; the note for people on stderr.
        context.io.stderr(`added user ${user.email}\n`);
        context.print(user.id);
      }, 'create');
    });

  users
    .command('list')
    .description('list every user')
    .action(async () => {
      await context.withAdmin(async (admin) => {
        const all = await admin.listUsers();
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
      await context.withAdmin(async (admin) => {
        const { user, alreadySince, revokedSessions } = await admin.disableUser(emailInput);
        const state =
          alreadySince === null ? 'disabled' : `already disabled since ${formatTime(alreadySince)}:`;
        context.print(`${state} ${user.email}; revoked ${countOf(revokedSessions.length, 'session')}`);
      });
    });

  users
    .command('enable')
    .description('let a disabled user log in again')
    .argument('<email>')
    .action(async (emailInput: string) => {
      await context.withAdmin(async (admin) => {
        const { user, changed } = await admin.enableUser(emailInput);
        context.print(changed ? `enabled ${user.email}` : `${user.email} is not disabled`);
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
