/**
 * Role names, as the `roles` claim of access tokens carries them (RFC 9068 §2.2.3.1, RFC 7643 §4.1.2).
 * Every resource server compares them as exact strings, so the alphabet is restrained: nothing that
 * could pass for another role (spaces, look-alike Unicode), and nothing that breaks a log line or a
 * shell command. Case is kept, not folded: `Admin` and `admin` are two roles, as in the claim.
 */
import { AuthError } from '../errors.js';

export const MAX_ROLE_LENGTH = 64;

const ROLE_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** The role name itself when it has the allowed shape; ERR_INVALID_INPUT (field `role`) otherwise. */
export function requireRoleName(input: string): string {
  if (typeof input !== 'string' || !ROLE_SHAPE.test(input)) {
    throw new AuthError(
      'ERR_INVALID_INPUT',
      `role must be 1 to ${MAX_ROLE_LENGTH} characters: letters, digits and . _ : - (starting with a letter or digit)`,
      { field: 'role' },
    );
  }
  return input;
}
