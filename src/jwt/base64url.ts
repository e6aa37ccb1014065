/**
 * Strict base64url (RFC 4648 §5, RFC 7515 §2): URL-safe alphabet only, no padding, no whitespace, and
 * a canonical last character. Node's own decoder is lenient: it skips unknown characters, accepts
 * padding and the standard alphabet, and ignores non-zero trailing bits, so two different strings can
 * decode to the same bytes. A token must have exactly one spelling.
 */

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** Value of each base64url character, -1 for anything else. */
const VALUES = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) {
  VALUES[c.charCodeAt(0)] = i;
}

/** True when `text` is canonical unpadded base64url. */
export function isBase64url(text: string): boolean {
  const rest = text.length & 3;
  if (rest === 1 || !ALPHABET.test(text)) return false;
  if (rest === 0) return true;
  // The last character carries 4 (rest 2) or 2 (rest 3) bits that do not belong to any byte;
  // canonical encoders leave them zero.
  const last = VALUES[text.charCodeAt(text.length - 1)] as number;
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/** Decodes canonical base64url; `null` when the text is not canonical base64url. */
export function decodeBase64url(text: string): Buffer | null {
  return isBase64url(text) ? Buffer.from(text, 'base64url') : null;
}

export function encodeBase64url(data: Uint8Array | string): string {
  return (
    typeof data === 'string'
      ? Buffer.from(data, 'utf8')
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  ).toString('base64url');
}
