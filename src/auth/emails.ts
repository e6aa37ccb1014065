/**
 * Email addresses as account names: trimmed, lower-cased (the whole address: in practice no mail
 * provider distinguishes case in the local part, and two accounts differing only by case are an
 * attack surface), and checked against a deliberately plain shape.
 */
import { AuthError } from '../errors.js';

/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254. */
const MAX_EMAIL_LENGTH = 254;
// One @, no spaces, control or invisible format characters (zero-width spaces, bidi overrides: they
// make addresses that look like another's), a dot in the domain, no empty labels.
const EMAIL_SHAPE = /^[^\s@\p{Cc}\p{Cf}]+@[^\s@\p{Cc}\p{Cf}.]+(\.[^\s@\p{Cc}\p{Cf}.]+)+$/u;

export function normalizeEmail(input: string): string {
  // NFC: a composed and a decomposed "é" are one address, not two accounts that look alike.
  const email = input.trim().normalize('NFC').toLowerCase();
  // Lone surrogates would all become U+FFFD in storage, so two different inputs could meet as one.
  if (
    !email.isWellFormed() ||
    email.length === 0 ||
    email.length > MAX_EMAIL_LENGTH ||
    !EMAIL_SHAPE.test(email)
  ) {
    throw new AuthError('ERR_INVALID_INPUT', 'email must be a valid email address', { field: 'email' });
  }
  return email;
}

/**
 * The email of an account about to be made: `normalizeEmail`, and nothing that NFKC changes, such as
 * compatibility characters (fullwidth "ａ", the ligature "ﬁ", superscript or circled letters), which
 * it folds into plain ones: "ａlice@example.com" would be a second account that reads as alice's.
 * Also a letter and mark that lower-casing left decomposed ("J̌" becomes "j" and a caron, which NFC
 * would compose into "ǰ"), so no new account has a spelling that reads as another's. Refused rather
 * than folded, so that an account made before this rule keeps the address it signs in with.
 */
export function newAccountEmail(input: string): string {
  const email = normalizeEmail(input);
  if (email.normalize('NFKC') !== email) {
    throw new AuthError(
      'ERR_INVALID_INPUT',
      'email must not contain characters that Unicode normalization changes (such as fullwidth letters or ligatures)',
      { field: 'email' },
    );
  }
  return email;
}
