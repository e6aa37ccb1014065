/**
 * The Bearer rules of RFC 6750, once, for Latchkey's own server and every resource-server adapter:
 * reading the Authorization header (§2.1) and writing the WWW-Authenticate challenge (§3).
 */

/**
 * The credentials of an Authorization header: `missing` when there is none or it uses another scheme
 * (answered without an error attribute), else the token as sent, which may be empty or malformed
 * (verification refuses it: invalid_token).
 */
export type BearerCredentials = { kind: 'missing' } | { kind: 'token'; token: string };

const MISSING: BearerCredentials = Object.freeze({ kind: 'missing' });

export function parseAuthorization(header: string | readonly string[] | undefined): BearerCredentials {
  if (typeof header !== 'string') return MISSING;
  const match = /^Bearer(?: +(.*))?$/i.exec(header.trim());
  if (match === null) return MISSING;
  return { kind: 'token', token: (match[1] ?? '').trim() };
}

export interface ChallengeOptions {
  realm?: string;
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  description?: string;
  /** The scopes a 403 insufficient_scope needed (RFC 6750 §3). */
  scope?: readonly string[];
}

/** A WWW-Authenticate value; quoted-string values lose `"` and `\` so no header can be injected. */
export function bearerChallenge(options: ChallengeOptions = {}): string {
  const attributes: string[] = [];
  const add = (name: string, value: string) =>
    attributes.push(`${name}="${value.replace(/["\\\r\n]/g, '')}"`);
  if (options.realm !== undefined) add('realm', options.realm);
  if (options.error !== undefined) add('error', options.error);
  if (options.description !== undefined) add('error_description', options.description);
  if (options.scope !== undefined && options.scope.length > 0) add('scope', options.scope.join(' '));
  return attributes.length === 0 ? 'Bearer' : `Bearer ${attributes.join(', ')}`;
}
