/**
 * Decoding of the JSON parts of a token. A segment must be canonical base64url of UTF-8 text that is
 * one JSON object. Duplicate member names follow JSON.parse (the last one wins, as RFC 7515 §4
 * permits); `__proto__` becomes an ordinary own property and never a prototype.
 */
import { isUtf8 } from 'node:buffer';
import { isBase64url } from './base64url.js';

/** The object, or a short reason why the segment is not one. */
export type SegmentResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

export function decodeJSONSegment(segment: string): SegmentResult {
  if (!isBase64url(segment)) return { ok: false, reason: 'is not canonical base64url' };
  return parseJSONObject(Buffer.from(segment, 'base64url'));
}

/** Parses bytes that must be one JSON object in UTF-8. */
export function parseJSONObject(bytes: Buffer): SegmentResult {
  if (!isUtf8(bytes)) return { ok: false, reason: 'is not UTF-8' };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, reason: 'is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'is not a JSON object' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/** Freezes a parsed JSON value and everything in it, so a shared value cannot be changed by anyone. */
export function deepFreeze<T>(value: T): T {
  // A loop, not recursion: a header nesting 6,000 arrays fits in a 16 KiB token, and headers are
  // frozen before the signature is checked. Recursion that deep overflows the stack.
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'object' && item !== null && !Object.isFrozen(item)) {
      Object.freeze(item);
      for (const member of Object.values(item)) pending.push(member);
    }
  }
  return value;
}
