/**
 * Reading a token without verifying it, for inspection and debugging only. Nothing returned here may
 * be trusted: the name says so on purpose.
 */
import { JOSEError, JWTClaimError } from '../errors.js';
import { decodeJSONSegment } from './json.js';
import { DEFAULT_MAX_TOKEN_BYTES } from './jws.js';

export interface UnverifiedJWT {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** The signature segment as it appears in the token. */
  signature: string;
}

/** Decodes header and payload of a compact JWT with the same strict parsing as verification. */
export function decodeUnverified(token: unknown, maxTokenBytes = DEFAULT_MAX_TOKEN_BYTES): UnverifiedJWT {
  if (typeof token !== 'string') throw new JOSEError('ERR_JWS_MALFORMED', 'token must be a string');
  if (token.length > maxTokenBytes) {
    throw new JOSEError('ERR_JWT_TOO_LARGE', `token is longer than the limit of ${maxTokenBytes} bytes`);
  }
  const segments = token.split('.');
  if (segments.length !== 3)
    throw new JOSEError('ERR_JWS_MALFORMED', 'a compact JWS has exactly three segments');
  const [headerSegment, payloadSegment, signature] = segments as [string, string, string];
  const header = decodeJSONSegment(headerSegment);
  if (!header.ok) throw new JOSEError('ERR_JWS_MALFORMED', `JWS header ${header.reason}`);
  const payload = decodeJSONSegment(payloadSegment);
  if (!payload.ok) throw new JWTClaimError('ERR_JWT_MALFORMED', `JWT payload ${payload.reason}`);
  return { header: header.value, payload: payload.value, signature };
}
