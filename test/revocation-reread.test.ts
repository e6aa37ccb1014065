/**
 * Re-reading revocations (src/revocation-reread.ts), simulated: revocations committed up to the deep
 * window after their time, reads at their own pace that see what has committed when they run, and
 * the list's clock stepping back.
 */
import { describe, expect, it } from 'vitest';
import { REVOCATION_REREAD, RereadPositions } from '../src/revocation-reread.js';

interface Revocation {
  stampedAt: number;
  committedAt: number;
}

/**
 * Reads every `intervalMs` of wall time from 0 to `endMs`; `clock(t)` is the list's clock at wall
 * time t. Returns the revocations never read.
 */
function simulate(
  revocations: Revocation[],
  intervalMs: number,
  endMs: number,
  clock: (t: number) => number,
) {
  const positions = new RereadPositions();
  const learned = new Set<Revocation>();
  for (let t = 0; t <= endMs; t += intervalMs) {
    const start = positions.next(t);
    const since = start.since ?? Number.NEGATIVE_INFINITY;
    for (const revocation of revocations) {
      if (revocation.committedAt <= t && revocation.stampedAt >= since) learned.add(revocation);
    }
    positions.read(start, clock(t), t);
  }
  return revocations.filter((revocation) => !learned.has(revocation));
}

/** A revocation every 700 ms of wall time, stamped by `clock` and committed up to the deep window later. */
function revocationsOver(endMs: number, clock: (t: number) => number): Revocation[] {
  const revocations: Revocation[] = [];
  for (let t = 0, i = 0; t < endMs; t += 700, i++) {
    const delay = (i * 7919) % (REVOCATION_REREAD.deepMs + 1);
    revocations.push({ stampedAt: clock(t), committedAt: t + delay });
  }
  return revocations;
}

describe('RereadPositions', () => {
  it('first reads everything, then re-reads the recent window, and the deep one every deepEveryMs', () => {
    const positions = new RereadPositions();
    const first = positions.next(0);
    expect(first).toEqual({ since: null, deep: true });
    positions.read(first, 100_000, 0);
    const recent = positions.next(1000);
    expect(recent).toEqual({ since: 100_000 - REVOCATION_REREAD.recentMs, deep: false });
    positions.read(recent, 101_000, 1000);
    // The reader's own clock tells when the list has moved on by the deep period.
    expect(positions.next(REVOCATION_REREAD.deepEveryMs - 1)).toMatchObject({ deep: false });
    expect(positions.next(REVOCATION_REREAD.deepEveryMs)).toEqual({
      since: 100_000 - REVOCATION_REREAD.deepMs,
      deep: true,
    });
  });

  it('finds every revocation committed within the deep window of its time, reading every 0.5, 1, 7, 30 or 60 s', () => {
    const end = 300_000;
    for (const interval of [500, 1000, 7000, 30_000, 60_000]) {
      const clock = (t: number) => 1_800_000_000_000 + t;
      expect(simulate(revocationsOver(end - 60_000, clock), interval, end, clock)).toEqual([]);
    }
  });

  it('reads everything again when the clock of the list steps back past its last deep read', () => {
    const end = 300_000;
    // The issuer's clock steps back 60 s at 100 s (an NTP step).
    const clock = (t: number) => 1_800_000_000_000 + t - (t >= 100_000 ? 60_000 : 0);
    expect(simulate(revocationsOver(end - 60_000, clock), 1000, end, clock)).toEqual([]);
    const positions = new RereadPositions();
    positions.read(positions.next(0), 200_000, 0);
    positions.read(positions.next(1000), 150_000, 1000);
    expect(positions.next(2000)).toEqual({ since: null, deep: true });
  });

  it('finds them all with reads at random gaps (some failing), before and after a 60 s step back', () => {
    // A small deterministic generator: the same cases on every run.
    const random = (seed: number) => () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const T0 = 1_800_000_000_000;
    const gaps = [1, 500, 1000, 3000, 9_999, 10_000, 30_000, 60_000];
    for (let seed = 1; seed <= 100; seed++) {
      const next = random(seed);
      const stepAt = 300_000;
      const clock = (t: number) => T0 + t - (t >= stepAt ? 60_000 : 0);
      const revocations = Array.from({ length: 200 }, () => {
        const t = Math.floor(next() * 600_000);
        return { stampedAt: clock(t), committedAt: t + Math.floor(next() * REVOCATION_REREAD.deepMs) };
      });
      const positions = new RereadPositions();
      const learned = new Set<Revocation>();
      // Then a quiet minute of reads every second, none failing.
      for (let t = 0, quiet = 0; quiet < 60; ) {
        const start = positions.next(t);
        const since = start.since ?? Number.NEGATIVE_INFINITY;
        if (t > 630_000 || next() >= 0.1) {
          for (const revocation of revocations) {
            if (revocation.committedAt <= t && revocation.stampedAt >= since) learned.add(revocation);
          }
          positions.read(start, clock(t), t);
        }
        if (t > 630_000) quiet += 1;
        t +=
          t > 630_000 ? 1000 : Math.floor((gaps[Math.floor(next() * gaps.length)] ?? 1000) * (0.5 + next()));
      }
      expect(
        revocations.filter((revocation) => !learned.has(revocation)),
        `seed ${seed}`,
      ).toEqual([]);
    }
  });
});
