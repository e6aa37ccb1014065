/**
 * The issuer's feed of revoked sessions and keys, polled in the background so that verification
 * stays local: a token of a revoked session (logout, logout-all, reuse detection) is refused within
 * one poll interval, with no call per request. When the feed cannot be read for longer than the
 * bound, the verifier fails closed (refuses every token) or open (accepts them), as its owner chose.
 */
import { REVOCATION_FEED_PAGE, type RevocationFeed } from '../protocol.js';
import { RereadPositions } from '../revocation-reread.js';
import { FetchJSONError, type FetchLike, fetchJSON } from './fetch-json.js';

export type FeedFailureMode = 'fail-closed' | 'fail-open';

export interface RevocationFeedOptions {
  feedUri: string;
  intervalMs: number;
  /** After this long without a successful poll the feed counts as unavailable. */
  maxStalenessMs: number;
  onUnavailable: FeedFailureMode;
  fetch: FetchLike;
  timeoutMs: number;
  maxBytes: number;
  now: () => number;
  /**
   * How long past the feed's own window a revoked sid is kept: this verifier's clock tolerance, as it
   * accepts a token that long after its exp (by its own clock, which may lag the issuer's).
   */
  extraRetentionMs: number;
  /** Told of every revoked kid, so the key set can drop it at once. */
  onRevokedKey: (kid: string) => void;
}

export interface RevocationFeedStatus {
  uri: string;
  /** `fresh`: polled within the bound; `unavailable`: not, and `mode` says what the verifier does. */
  state: 'fresh' | 'unavailable';
  mode: FeedFailureMode;
  lastSuccessAt: number | null;
  lastError: string | null;
  revokedSessions: number;
}

/** Pages one poll reads at most: a million revoked sessions in the window. */
const MAX_PAGES = 1_000;
/** How long an issuer that refused paging is read whole before pages are asked for again. */
const UNPAGED_RETRY_MS = 10 * 60_000;

export class RevocationFeedPoller {
  readonly #options: RevocationFeedOptions;
  /** sid → until when (this verifier's clock) it is remembered. */
  readonly #sessions = new Map<string, number>();
  /** Where the next poll reads from, in the issuer's times of the polls before. */
  readonly #positions = new RereadPositions();
  /** Until when (this verifier's clock) the feed is read whole: its issuer refused paging. */
  #unpagedUntil = 0;
  #lastSuccessAt: number | null = null;
  #lastError: string | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #inFlight: Promise<void> | null = null;

  constructor(options: RevocationFeedOptions) {
    this.#options = options;
  }

  /** First poll, then one every interval; the timer never keeps the process alive. */
  start(): Promise<void> {
    if (this.#timer === null) {
      this.#timer = setInterval(() => void this.poll(), this.#options.intervalMs);
      // Node: never keep the process alive for this. Other runtimes have no unref.
      (this.#timer as { unref?: () => void }).unref?.();
    }
    return this.poll();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One poll (joined when one is under way); failures are kept in the status, never thrown. */
  poll(): Promise<void> {
    this.#inFlight ??= this.#pollOnce().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  isRevoked(sid: string): boolean {
    return this.#sessions.has(sid);
  }

  /** Whether the feed has been read recently enough to be trusted. */
  get available(): boolean {
    const { now, maxStalenessMs } = this.#options;
    return this.#lastSuccessAt !== null && now() - this.#lastSuccessAt <= maxStalenessMs;
  }

  status(): RevocationFeedStatus {
    return {
      uri: this.#options.feedUri,
      state: this.available ? 'fresh' : 'unavailable',
      mode: this.#options.onUnavailable,
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      revokedSessions: this.#sessions.size,
    };
  }

  /**
   * Reads the feed a page at a time: a logout of thousands of sessions would otherwise make one answer
   * larger than this verifier takes, and every poll would fail until it aged out of the window. Each
   * page counts as soon as it is read; the position moves on only once the last page is in.
   */
  async #pollOnce(): Promise<void> {
    const { now } = this.#options;
    try {
      const paged = now() >= this.#unpagedUntil;
      try {
        await this.#read(paged);
      } catch (error) {
        if (!paged || !(error instanceof FetchJSONError) || error.status !== 400) throw error;
        // An issuer older than paging refuses its parameters (400): read it whole, as it answers,
        // and try pages again later, when it may have been upgraded.
        this.#unpagedUntil = now() + UNPAGED_RETRY_MS;
        await this.#read(false);
      }
      this.#lastSuccessAt = now();
      this.#lastError = null;
    } catch (error) {
      this.#lastError = error instanceof Error ? error.message : String(error);
    }
  }

  /** Reads the feed from the position on, all of it, and moves the position on. */
  async #read(paged: boolean): Promise<void> {
    const startedAt = this.#options.now();
    const start = this.#positions.next(startedAt);
    const since = start.since === null ? null : String(Math.max(0, start.since));
    let first: RevocationFeed | null = null;
    let after: string | null = null;
    const seen = new Set<string>();
    for (let pages = 1; ; pages++) {
      const url = new URL(this.#options.feedUri);
      if (since !== null) url.searchParams.set('since', since);
      if (paged) url.searchParams.set('limit', String(REVOCATION_FEED_PAGE));
      if (after !== null) url.searchParams.set('after', after);
      const { body } = await fetchJSON(url.href, this.#options);
      const feed = parseFeed(body);
      first ??= feed;
      this.#take(feed);
      if (!paged || feed.next === undefined) break;
      if (seen.has(feed.next)) throw new Error('the revocation feed answered a page again');
      if (pages >= MAX_PAGES) throw new Error(`the revocation feed did not end within ${MAX_PAGES} pages`);
      seen.add(feed.next);
      after = feed.next;
    }
    // From the first page's time: what was revoked while the later pages were read comes next time.
    this.#positions.read(start, first.generated_at, startedAt);
    const now = this.#options.now();
    for (const [sid, until] of this.#sessions) if (until < now) this.#sessions.delete(sid);
  }

  #take(feed: RevocationFeed): void {
    // Kept for the feed's whole window counted from when we heard of it, by our own clock, plus our
    // tolerance: a token of the session is accepted here no longer than that (for a clock lagging
    // the issuer's by up to the issuer's own tolerance).
    const receivedAt = this.#options.now();
    const keepUntil = receivedAt + feed.retention_seconds * 1000 + this.#options.extraRetentionMs;
    for (const { sid } of feed.sessions) {
      if (!this.#sessions.has(sid)) this.#sessions.set(sid, keepUntil);
    }
    for (const { kid } of feed.keys) this.#options.onRevokedKey(kid);
  }
}

/** The feed's shape checked member by member: a wrong answer is a failed poll, never a crash. */
function parseFeed(body: unknown): RevocationFeed {
  const feed = body as Partial<RevocationFeed> | null;
  const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
  if (
    typeof feed !== 'object' ||
    feed === null ||
    !isTime(feed.generated_at) ||
    !isTime(feed.retention_seconds) ||
    !Array.isArray(feed.sessions) ||
    !feed.sessions.every((entry) => typeof entry?.sid === 'string' && isTime(entry.revoked_at))
  ) {
    throw new Error('the revocation feed answered something that is not a revocation feed');
  }
  // Older issuers send no keys.
  const keys = Array.isArray(feed.keys) ? feed.keys.filter((entry) => typeof entry?.kid === 'string') : [];
  if (feed.next !== undefined && (typeof feed.next !== 'string' || feed.next === '')) {
    throw new Error('the revocation feed answered a `next` that is not a position');
  }
  return { ...feed, keys } as RevocationFeed;
}
