/** What the client throws: the contract's error code, the HTTP status, and the server's words. */
import type { WireErrorCode } from '../protocol.js';

/** `network_error`: no answer at all (offline, DNS, CORS refused); `0` is its status. */
export type ClientErrorCode = WireErrorCode | 'network_error';

export class LatchkeyClientError extends Error {
  readonly code: ClientErrorCode;
  readonly status: number;
  /** From Retry-After on 429 and 503. */
  readonly retryAfterSeconds: number | null;

  constructor(
    code: ClientErrorCode,
    message: string,
    status: number,
    retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = 'LatchkeyClientError';
    this.code = code;
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The error of a non-2xx answer, read from its `{error, message}` body when it has one. */
export async function errorFromResponse(response: Response): Promise<LatchkeyClientError> {
  let code: ClientErrorCode = response.status >= 500 ? 'internal_error' : 'invalid_request';
  let message = `the server answered ${response.status}`;
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') code = body.error as ClientErrorCode;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not the contract's JSON (a proxy's page): the status says enough.
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
  return new LatchkeyClientError(
    code,
    message,
    response.status,
    Number.isFinite(retryAfter) ? retryAfter : null,
  );
}
