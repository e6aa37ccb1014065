/**
 * The revocation feed as the verifier keeps it: a revoked session stays refused for as long as this
 * verifier could still accept one of its tokens (its own clock and tolerance), not only for the
 * issuer's window, which a verifier with a larger tolerance or a lagging clock outlives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RevocationFeedPoller } from '../../src/verify/revocation-feed.js';
import { type ControlledServer, startControlledServer } from './controlled-server.js';

let server: ControlledServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const T0 = 1_800_000_000_000;

describe('RevocationFeedPoller', () => {
  it('keeps a revoked sid for the feed window from when it heard of it, plus its own tolerance', async () => {
    let sessions = [{ sid: 's1', revoked_at: T0 }];
    server = await startControlledServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      // The issuer's window is 5 s; after it, the issuer no longer lists the session.
      response.end(JSON.stringify({ generated_at: T0, retention_seconds: 5, sessions, keys: [] }));
    });
    let now = T0;
    const poller = new RevocationFeedPoller({
      feedUri: `${server.url}/feed`,
      intervalMs: 1000,
      maxStalenessMs: 60_000,
      onUnavailable: 'fail-closed',
      fetch: (input, init) => fetch(input, init),
      timeoutMs: 2000,
      maxBytes: 1 << 20,
      now: () => now,
      extraRetentionMs: 90_000,
      onRevokedKey: () => {},
    });
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
