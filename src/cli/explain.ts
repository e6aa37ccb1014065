/** Each claim of an access token in words, for `latchkey token inspect`. */
import { formatJSON, formatRelative, formatTime } from './format.js';

const MEANINGS: Readonly<Record<string, string>> = {
  iss: 'issuer: who issued and signed it',
  sub: 'subject: the user it speaks for',
  aud: 'audience: the services meant to accept it',
  jti: 'token id: unique to this token',
  sid: 'session id: the login it belongs to; revoking the session ends this token',
  client_id: 'client: the application it was issued to',
  roles: 'roles: what the user may do, as the server knew it at issue (RFC 9068 §2.2.3.1); absent for none',
};

/** Rows of claim, value and meaning; `notes` add what the database knows (whose user, which session). */
export function explainClaims(
  payload: Record<string, unknown>,
  nowSeconds: number,
  notes: Readonly<Record<string, string>> = {},
): string[][] {
  return Object.entries(payload).map(([claim, value]) => {
    const meaning = explainTime(claim, value, nowSeconds) ?? MEANINGS[claim] ?? 'not a claim Latchkey issues';
    const note = notes[claim];
    return [
      claim,
      typeof value === 'string' ? value : formatJSON(value),
      note === undefined ? meaning : `${meaning} (${note})`,
    ];
  });
}

function explainTime(claim: string, value: unknown, nowSeconds: number): string | undefined {
  const phrases = TIME_PHRASES[claim];
  if (phrases === undefined) return undefined;
  // Date cannot show more than ±8.64e15 ms; such a value is readable as a number only.
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > 8.64e12) {
    return 'not a usable time (a NumericDate is a number of seconds since 1970)';
  }
  const relative = formatRelative(value, nowSeconds);
  return `${formatTime(value * 1000)}: ${value > nowSeconds ? phrases.future : phrases.past} ${relative}`;
}

/** How each time claim reads when it lies ahead and when it has passed. */
const TIME_PHRASES: Readonly<Record<string, { future: string; past: string }>> = {
  exp: { future: 'expires', past: 'expired' },
  nbf: { future: 'becomes valid', past: 'became valid' },
  iat: { future: 'issued in the future (a wrong clock?),', past: 'issued' },
};
