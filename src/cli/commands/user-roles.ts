/**
 * `latchkey users roles EMAIL [add|remove ROLE]`: lists a user's roles, or gives or takes one, through
 * the admin service (which checks the role name as the domain does). Roles reach the `roles` claim at
 * the user's next login or refresh; tokens issued before keep theirs until they expire, so a removal
 * says how to end those at once.
 */
import type { Command } from 'commander';
import { AdminService } from '../../auth/admin.js';
import { type CLIContext, usageError } from '../context.js';

const ACTIONS = ['add', 'remove'] as const;
type Action = (typeof ACTIONS)[number];

const isAction = (value: string): value is Action => (ACTIONS as readonly string[]).includes(value);

export function registerUserRolesCommand(users: Command, context: CLIContext): void {
  users
    .command('roles')
    .description("list a user's roles, or add or remove one (it reaches their next login or refresh)")
    .argument('<email>', 'the user’s email address')
    .argument('[action]', 'add or remove; without it, the roles are listed')
    .argument('[role]', 'the role: 1 to 64 letters, digits and . _ : - (starting with a letter or digit)')
    .action(async (email: string, action: string | undefined, role: string | undefined) => {
      // Usage first, before the database is opened.
      if (action !== undefined && !isAction(action)) {
        throw usageError(`unknown action "${action}": use add or remove, or nothing to list the roles`);
      }
      if (action !== undefined && role === undefined) {
        throw usageError(`${action} needs a role: latchkey users roles EMAIL ${action} ROLE`);
      }
      await context.withStore(async (store) => {
        const admin = new AdminService({ store });
        if (action === undefined) {
          const listed = await admin.listRoles(email);
          // Only roles on stdout, one a line, so `latchkey users roles … | grep -qx admin` works.
          for (const name of listed.roles) context.print(name);
          if (listed.roles.length === 0) context.io.stderr(`${listed.email} has no roles\n`);
          return;
        }
        const change =
          action === 'add'
            ? await admin.addRole(email, role as string)
            : await admin.removeRole(email, role as string);
        const { email: who, role: name, changed } = change;
        if (!changed) {
          context.print(action === 'add' ? `${who} has role ${name} already` : `${who} has no role ${name}`);
          return;
        }
        context.print(action === 'add' ? `added role ${name} to ${who}` : `removed role ${name} from ${who}`);
        if (action === 'remove') {
          const ttl = context.config().accessTtlSeconds;
          context.io.stderr(
            `access tokens issued before keep it until they expire (within ${ttl} s); ` +
              `\`latchkey sessions revoke --user ${who}\` ends them now\n`,
          );
        }
      });
    });
}
