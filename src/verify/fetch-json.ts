/**
 * One GET of a JSON document from the issuer, bounded in time and size: a slow or hostile endpoint
 * can neither hang a resource server nor fill its memory. Also reads how long the answer may be
 * kept (Cache-Control max-age).
 */

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface FetchJSONOptions {
  fetch: FetchLike;
  timeoutMs: number;
  maxBytes: number;
}

export interface FetchedJSON {
  body: unknown;
  /** From Cache-Control: `max-age` in seconds; 0 for no-store/no-cache; null when it says nothing. */
  maxAgeSeconds: number | null;
}

/** Why a fetch failed, in words for a status page or a log; never the body. */
export class FetchJSONError extends Error {
  override name = 'FetchJSONError';
  /** The HTTP status of an answer other than 200; null when no answer came or it was unreadable. */
  readonly status: number | null;

  constructor(message: string, options: ErrorOptions & { status?: number } = {}) {
    super(message, options);
    this.status = options.status ?? null;
  }
}

export async function fetchJSON(url: string, options: FetchJSONOptions): Promise<FetchedJSON> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(url, {
      signal,
      redirect: 'error',
      headers: { accept: 'application/json' },
    });
  } catch (error) {
    throw new FetchJSONError(
      signal.aborted ? `${url}: no answer within ${options.timeoutMs} ms` : `${url}: ${describe(error)}`,
      { cause: error },
    );
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new FetchJSONError(`${url}: answered ${response.status}`, { status: response.status });
  }
  const text = await readLimited(response, url, options.maxBytes, signal);
  try {
    return { body: JSON.parse(text), maxAgeSeconds: parseMaxAge(response.headers.get('cache-control')) };
  } catch (error) {
    throw new FetchJSONError(`${url}: the answer is not JSON`, { cause: error });
  }
}

async function readLimited(response: Response, url: string, maxBytes: number, signal: AbortSignal) {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new FetchJSONError(`${url}: the answer is larger than ${maxBytes} bytes`);
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new FetchJSONError(`${url}: the answer is larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof FetchJSONError) throw error;
    throw new FetchJSONError(
      signal.aborted ? `${url}: no answer within the time limit` : `${url}: ${describe(error)}`,
      { cause: error },
    );
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

/** `max-age` of a Cache-Control header; `no-store` and `no-cache` mean 0. */
export function parseMaxAge(header: string | null): number | null {
  if (header === null) return null;
  let maxAge: number | null = null;
  for (const directive of header.toLowerCase().split(',')) {
    const [name = '', value] = directive.trim().split('=');
    if (name === 'no-store' || name === 'no-cache') return 0;
    if (name === 'max-age' && value !== undefined && /^\d{1,9}$/.test(value.trim())) {
      maxAge = Number(value.trim());
    }
  }
  return maxAge;
}

/** fetch says only "fetch failed"; its cause says why (ECONNREFUSED, unexpected redirect). */
function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string' && cause.message !== '') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
