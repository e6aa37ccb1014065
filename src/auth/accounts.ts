/**
 * Creating an account, once, for registration over HTTP and for `latchkey users add`: the email and
 * password rules, argon2id, the id's shape, and a taken email as ERR_EMAIL_TAKEN.
 */
import { randomBytes } from 'node:crypto';
import { AuthError, StoreError } from '../errors.js';
import type { UserRecord, UserStore } from '../store/types.js';
import { newAccountEmail } from './emails.js';
import type { PasswordHasher } from './passwords.js';
import { normalizePassword } from './passwords.js';

export async function createAccount(
  store: UserStore,
  passwords: PasswordHasher,
  emailInput: string,
  passwordInput: string,
  now: number,
): Promise<UserRecord> {
  const email = newAccountEmail(emailInput);
  const password = normalizePassword(passwordInput);
  const passwordHash = await passwords.hash(password);
  try {
    return await store.createUser({
      id: randomBytes(16).toString('base64url'),
      email,
      passwordHash,
      createdAt: now,
    });
  } catch (error) {
    if (error instanceof StoreError && error.code === 'ERR_STORE_CONFLICT') {
      throw new AuthError('ERR_EMAIL_TAKEN', 'an account with this email exists already', { field: 'email' });
    }
    throw error;
  }
}
