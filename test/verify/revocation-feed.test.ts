/**
 * The revocation feed as the verifier keeps it: a revoked session stays refused for as long as this
 * verifier could still accept one of its tokens (its own clock and tolerance), not only for the
 * issuer's window, which a verifier with a larger tolerance or a lagging clock outlives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REVOCATION_REREAD } from '../../src/revocation-reread.js';
import { RevocationFeedPoller } from '../../src/verify/revocation-feed.js';
import { type ControlledServer, type Handler, startControlledServer } from './controlled-server.js';

let server: ControlledServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const T0 = 1_800_000_000_000;

/** A verifier polling `url`/feed every second, on the clock `now`. */
const pollerOn = (url: string, now: () => number, { maxBytes = 1 << 20, extraRetentionMs = 30_000 } = {}) =>
  new RevocationFeedPoller({
    feedUri: `${url}/feed`,
    intervalMs: 1000,
    maxStalenessMs: 60_000,
    onUnavailable: 'fail-closed',
    fetch: (input, init) => fetch(input, init),
    timeoutMs: 5000,
    maxBytes,
    now,
    extraRetentionMs,
    onRevokedKey: () => {},
  });

describe('RevocationFeedPoller', () => {
  it('keeps a revoked sid for the feed window from when it heard of it, plus its own tolerance', async () => {
    let sessions = [{ sid: 's1', revoked_at: T0 }];
    server = await startControlledServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      // The issuer's window is 5 s; after it, the issuer no longer lists the session.
      response.end(JSON.stringify({ generated_at: T0, retention_seconds: 5, sessions, keys: [] }));
    });
    let now = T0;
    const poller = pollerOn(server.url, () => now, { extraRetentionMs: 90_000 });
    await poller.poll();
    expect(poller.isRevoked('s1')).toBe(true);
    sessions = [];
    now = T0 + 40_000;
    await poller.poll();
    // Past the issuer's window, within this verifier's tolerance of 90 s: still refused.
    expect(poller.isRevoked('s1')).toBe(true);
    now = T0 + 5_000 + 90_000 + 1;
    await poller.poll();
    expect(poller.isRevoked('s1')).toBe(false);
    poller.stop();
  });
});

describe('RevocationFeedPoller re-reading', () => {
  /** An issuer's feed over `committed`: what has committed at or after `since`, at the time `now()`. */
  async function issuer(now: () => number) {
    const committed: { sid: string; revoked_at: number }[] = [];
    const answered: string[][] = [];
    server = await startControlledServer((request, response) => {
      const since = Number(new URL(request.url ?? '/', 'http://feed').searchParams.get('since') ?? 0);
      const sessions = committed.filter(({ revoked_at }) => revoked_at >= since);
      answered.push(sessions.map(({ sid }) => sid));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ generated_at: now(), retention_seconds: 930, sessions, keys: [] }));
    });
    return { committed, answered, poller: pollerOn(server.url, now) };
  }

  it('learns a revocation whose commit trailed its time by 20 s, as a wait for PostgreSQL row locks can', async () => {
    let now = T0;
    const { committed, poller } = await issuer(() => now);
    // Stamped at T0 + 500, committed 20 s later; the verifier polls every second meanwhile.
    for (; now <= T0 + 20_000; now += 1000) await poller.poll();
    committed.push({ sid: 'late', revoked_at: T0 + 500 });
    let polls = 0;
    for (; !poller.isRevoked('late') && polls < 30; now += 1000, polls++) await poller.poll();
    // Within one deep re-read's period and one interval of its commit.
    expect(polls).toBeGreaterThan(0);
    expect(polls * 1000).toBeLessThanOrEqual(REVOCATION_REREAD.deepEveryMs + 1000);
    poller.stop();
  });

  it('reads a revocation again a few times, not on every poll of the deep window', async () => {
    let now = T0;
    const { committed, answered, poller } = await issuer(() => now);
    await poller.poll();
    committed.push({ sid: 'logout-all', revoked_at: T0 + 500 });
    for (now += 1000; now <= T0 + 60_000; now += 1000) await poller.poll();
    const times = answered.filter((sids) => sids.includes('logout-all')).length;
    // recent / interval + (deep + deepEvery) / deepEvery, and one for the boundaries: 10; it was 30
    // when every poll re-read the deep window.
    const { recentMs, deepMs, deepEveryMs } = REVOCATION_REREAD;
    expect(times).toBeGreaterThan(0);
    expect(times).toBeLessThanOrEqual(recentMs / 1000 + (deepMs + deepEveryMs) / deepEveryMs + 1);
    poller.stop();
  });
});

describe('RevocationFeedPoller paging', () => {
  /** An issuer's feed over `sessions`, a page at a time when asked for with `limit`, as Latchkey's. */
  function pagingFeed(sessions: { sid: string; revoked_at: number }[], generatedAt: () => number) {
    const asked: URLSearchParams[] = [];
    const handler: Handler = (request, response) => {
      const query = new URL(request.url ?? '/', 'http://feed').searchParams;
      asked.push(query);
      const limit = Number(query.get('limit') ?? Number.POSITIVE_INFINITY);
      const after = query.get('after');
      const from = after === null ? 0 : sessions.findIndex(({ sid }) => sid === after) + 1;
      const page = sessions.slice(from, from + limit);
      const more = from + page.length < sessions.length;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          generated_at: generatedAt(),
          retention_seconds: 930,
          sessions: page,
          keys: [],
          ...(more ? { next: page.at(-1)?.sid } : {}),
        }),
      );
    };
    return { asked, handler };
  }

  it('reads a revocation of thousands of sessions a page at a time, each page under its byte limit', async () => {
    const sessions = Array.from({ length: 2500 }, (_, i) => ({
      sid: `sid-${String(i).padStart(5, '0')}-${'x'.repeat(16)}`,
      revoked_at: T0,
    }));
    let generatedAt = T0 + 1000;
    const feed = pagingFeed(sessions, () => generatedAt++);
    server = await startControlledServer(feed.handler);
    // The whole list is about 150 KB: one answer would be refused, as an attacker's logout-all meant to.
    expect(JSON.stringify(sessions).length).toBeGreaterThan(120_000);
    const poller = pollerOn(server.url, () => T0 + 1000, { maxBytes: 100_000 });
    await poller.poll();
    expect(poller.status()).toMatchObject({ state: 'fresh', lastError: null, revokedSessions: 2500 });
    for (const { sid } of sessions) expect(poller.isRevoked(sid)).toBe(true);
    expect(feed.asked.map((query) => [query.get('limit'), query.get('after')])).toEqual([
      ['1000', null],
      ['1000', sessions[999]?.sid],
      ['1000', sessions[1999]?.sid],
    ]);
    // The next poll starts from the first page's time (less the overlap), not the last's.
    await poller.poll();
    expect(feed.asked[3]?.get('since')).toBe(String(T0 + 1000 - REVOCATION_REREAD.recentMs));
    poller.stop();
  });

  it('fails a poll whose pages do not move on, keeping what it read and its position', async () => {
    const sessions = [{ sid: 's1', revoked_at: T0 }];
    server = await startControlledServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      // The same page again and again.
      response.end(
        JSON.stringify({ generated_at: T0, retention_seconds: 930, sessions, keys: [], next: 's1' }),
      );
    });
    const poller = pollerOn(server.url, () => T0);
    await poller.poll();
    expect(poller.isRevoked('s1')).toBe(true);
    expect(poller.status()).toMatchObject({
      state: 'unavailable',
      lastError: 'the revocation feed answered a page again',
    });
    poller.stop();
  });

  it('reads an issuer older than paging whole, which refuses limit with a 400, and asks for pages later', async () => {
    const sessions = [{ sid: 's1', revoked_at: T0 }];
    const asked: string[] = [];
    let now = T0;
    // As Latchkey before paging: its query schema refuses every parameter but since.
    server = await startControlledServer((request, response) => {
      const query = new URL(request.url ?? '/', 'http://feed').searchParams;
      asked.push(query.toString());
      const unknown = [...query.keys()].filter((key) => key !== 'since');
      response.writeHead(unknown.length > 0 ? 400 : 200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(
          unknown.length > 0
            ? { error: 'invalid_request', message: 'querystring must NOT have additional properties' }
            : { generated_at: now, retention_seconds: 930, sessions, keys: [] },
        ),
      );
    });
    const poller = pollerOn(server.url, () => now);
    await poller.poll();
    expect(poller.status()).toMatchObject({ state: 'fresh', lastError: null });
    expect(poller.isRevoked('s1')).toBe(true);
    expect(asked).toEqual(['limit=1000', '']);
    // Read whole for a while, without asking for a page first; a minute on, from the deep window.
    now += 60_000;
    await poller.poll();
    expect(asked.slice(2)).toEqual([`since=${T0 - REVOCATION_REREAD.deepMs}`]);
    // Then pages are asked for again: the issuer may have been upgraded.
    now += 10 * 60_000;
    await poller.poll();
    expect(asked.slice(3)).toEqual([
      `since=${T0 + 60_000 - REVOCATION_REREAD.deepMs}&limit=1000`,
      `since=${T0 + 60_000 - REVOCATION_REREAD.deepMs}`,
    ]);
    expect(poller.status()).toMatchObject({ state: 'fresh', lastError: null });
    poller.stop();
  });

  it('refuses a next that is not a position', async () => {
    server = await startControlledServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ generated_at: T0, retention_seconds: 930, sessions: [], keys: [], next: 7 }),
      );
    });
    const poller = pollerOn(server.url, () => T0);
    await poller.poll();
    expect(poller.status()).toMatchObject({
      state: 'unavailable',
      lastError: 'the revocation feed answered a `next` that is not a position',
    });
    poller.stop();
  });
});
