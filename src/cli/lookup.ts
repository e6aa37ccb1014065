/** Finding what a person named on the command line; absence is a clear failure, not a stack trace. */
import { normalizeEmail } from '../auth/emails.js';
import type { Store, UserRecord } from '../store/types.js';
import { CLIError } from './context.js';

/** The user with this email, normalised as at registration (so `Ann@Example.com` finds ann@example.com). */
export async function requireUser(store: Store, emailInput: string): Promise<UserRecord> {
  const email = normalizeEmail(emailInput);
  const user = await store.findUserByEmail(email);
  if (user === null) throw new CLIError(`no user with email ${email}`);
  return user;
}
