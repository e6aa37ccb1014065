/**
 * latchkey/client in Debian's Chromium, in cookie mode, against a real Latchkey: the page is an app
 * on another port of the same site (so the SameSite=Strict refresh cookie goes along, and CORS
 * answers it). The refresh grace window is 0: if two tabs ever presented the same refresh token,
 * reuse detection would end the session, and these tests would see it.
 */
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, request, startServer } from '../e2e/support.js';
import { browserUnavailable, launchChromium, type PageServer, startPageServer } from './browser.js';

const PASSWORD = 'correct horse battery staple';
const unavailable = browserUnavailable();
if (unavailable !== null) console.warn(unavailable);

let browser: Browser;
let pages: PageServer;
let server: RunningServer;
/** The same with the default grace window, for the timing-based fallback (see the test). */
let graceServer: RunningServer;

beforeAll(async () => {
  if (unavailable !== null) return;
  pages = await startPageServer();
  server = await startServer({ LATCHKEY_ALLOWED_ORIGINS: pages.origin, LATCHKEY_REFRESH_GRACE: '0' });
  graceServer = await startServer({ LATCHKEY_ALLOWED_ORIGINS: pages.origin });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await graceServer?.close();
  await pages?.close();
});

async function newUser(issuer: RunningServer = server): Promise<string> {
  const email = `${randomUUID()}@example.com`;
  const registered = await request(issuer.baseUrl, '/auth/register', {
    method: 'POST',
    body: { email, password: PASSWORD },
  });
  expect(registered.status).toBe(201);
  return email;
}

/** A tab of the app with a client started; `withoutLocks` takes Web Locks away before any script runs. */
async function openTab(
  context: BrowserContext,
  options: { withoutLocks?: boolean; issuer?: RunningServer } = {},
): Promise<Page> {
  const page = await context.newPage();
  if (options.withoutLocks === true) {
    await page.addInitScript(() => {
      Object.defineProperty((globalThis as unknown as InPage).Navigator.prototype, 'locks', {
        get: () => undefined,
      });
    });
  }
  await page.goto(pages.origin);
  await page.waitForFunction(() => 'latchkeyTest' in globalThis);
  await page.evaluate(
    (baseUrl) => {
      (globalThis as unknown as InPage).latchkeyTest.start(baseUrl);
    },
    (options.issuer ?? server).baseUrl,
  );
  return page;
}

function logIn(tab: Page, email: string): Promise<void> {
  return tab.evaluate(
    ({ address, password }) => (globalThis as unknown as InPage).latchkeyTest.client.login(address, password),
    { address: email, password: PASSWORD },
  );
}

/** Counts the refresh requests a set of tabs sends. */
function countRefreshes(...tabs: Page[]): () => number {
  let count = 0;
  for (const tab of tabs) {
    tab.on('request', (sent) => {
      if (sent.method() === 'POST' && new URL(sent.url()).pathname === '/auth/refresh') count += 1;
    });
  }
  return () => count;
}

interface Handles {
  client: {
    login(email: string, password: string): Promise<void>;
    restore(): Promise<boolean>;
    logout(): Promise<void>;
    me(): Promise<{ email: string }>;
    getAccessToken(): Promise<string | null>;
    authFetch(input: string): Promise<Response>;
    authenticated: boolean;
  };
  clockOffsetMs: number;
  events: string[];
  start(baseUrl: string): unknown;
}

/** The page's globals as the evaluated functions see them (they run in the page, not here). */
interface InPage {
  latchkeyTest: Handles;
  document: { cookie: string };
  navigator: { locks?: unknown };
  Navigator: { prototype: object };
}

describe.skipIf(unavailable !== null)('latchkey/client in Chromium (cookie mode)', () => {
  it('logs in, and after a reload resumes the session through the HttpOnly cookie it never sees', async () => {
    const email = await newUser();
    const context = await browser.newContext();
    try {
      const tab = await openTab(context);
      await logIn(tab, email);
      expect(await tab.evaluate(() => (globalThis as unknown as InPage).document.cookie)).toBe('');
      await tab.reload();
      await tab.waitForFunction(() => 'latchkeyTest' in globalThis);
      const resumed = await tab.evaluate(async (baseUrl) => {
        (globalThis as unknown as InPage).latchkeyTest.start(baseUrl);
        const restored = await (globalThis as unknown as InPage).latchkeyTest.client.restore();
        return { restored, me: await (globalThis as unknown as InPage).latchkeyTest.client.me() };
      }, server.baseUrl);
      expect(resumed).toEqual({ restored: true, me: expect.objectContaining({ email }) });
    } finally {
      await context.close();
    }
  });

  it('10 concurrent authFetch calls with an expired access token make exactly one refresh request', async () => {
    const email = await newUser();
    const context = await browser.newContext();
    try {
      const tab = await openTab(context);
      await logIn(tab, email);
      const refreshes = countRefreshes(tab);
      const statuses = await tab.evaluate(async (baseUrl) => {
        (globalThis as unknown as InPage).latchkeyTest.clockOffsetMs = 3_600_000;
        const responses = await Promise.all(
          Array.from({ length: 10 }, () =>
            (globalThis as unknown as InPage).latchkeyTest.client.authFetch(`${baseUrl}/api/me`),
          ),
        );
        return responses.map((response) => response.status);
      }, server.baseUrl);
      expect(statuses).toEqual(Array(10).fill(200));
      expect(refreshes()).toBe(1);
    } finally {
      await context.close();
    }
  });

  for (const withoutLocks of [false, true]) {
    // Web Locks make it exact, so the issuer has no grace window: one token presented twice would end
    // the session. Without them the claims on the channel are timing-based; the issuer's grace window
    // (default 10 s) is what makes a rare double presentation harmless, so that variant has it.
    const how = withoutLocks
      ? 'through BroadcastChannel claims (no Web Locks), with the grace window'
      : 'through Web Locks, with no grace window';
    const issuer = () => (withoutLocks ? graceServer : server);
    it(`two tabs refreshing at once never present one refresh token twice (no reuse detection), ${how}`, async () => {
      const email = await newUser(issuer());
      const context = await browser.newContext();
      try {
        const first = await openTab(context, { withoutLocks, issuer: issuer() });
        const second = await openTab(context, { withoutLocks, issuer: issuer() });
        expect(
          await first.evaluate(() => (globalThis as unknown as InPage).navigator.locks !== undefined),
        ).toBe(!withoutLocks);
        await logIn(first, email);
        // The second tab heard of the login on the channel and holds the same access token.
        await second.waitForFunction(
          () => (globalThis as unknown as InPage).latchkeyTest.client.authenticated,
        );
        const refreshes = countRefreshes(first, second);
        for (let round = 1; round <= 3; round++) {
          const tokens = await Promise.all(
            [first, second].map((tab) =>
              tab.evaluate(async (offset) => {
                (globalThis as unknown as InPage).latchkeyTest.clockOffsetMs = offset;
                return (globalThis as unknown as InPage).latchkeyTest.client.getAccessToken();
              }, round * 3_600_000),
            ),
          );
          expect(tokens[0]).toBeTruthy();
          expect(tokens[1]).toBeTruthy();
          // Usually one: the second tab takes the first's news. Two when it looked just after the first
          // finished and before the news arrived: then it sent the new cookie, never the same one twice.
          expect(refreshes()).toBeGreaterThanOrEqual(round);
          expect(refreshes()).toBeLessThanOrEqual(2 * round);
        }
        for (const tab of [first, second]) {
          expect(
            await tab.evaluate(
              async () => (await (globalThis as unknown as InPage).latchkeyTest.client.me()).email,
            ),
          ).toBe(email);
          expect(
            await tab.evaluate(() =>
              (globalThis as unknown as InPage).latchkeyTest.events.includes('sessionExpired'),
            ),
          ).toBe(false);
        }
      } finally {
        await context.close();
      }
    });
  }

  it('a logout in one tab logs out the other', async () => {
    const email = await newUser();
    const context = await browser.newContext();
    try {
      const first = await openTab(context);
      const second = await openTab(context);
      await logIn(first, email);
      await second.waitForFunction(() => (globalThis as unknown as InPage).latchkeyTest.client.authenticated);
      await first.evaluate(() => (globalThis as unknown as InPage).latchkeyTest.client.logout());
      await second.waitForFunction(
        () => !(globalThis as unknown as InPage).latchkeyTest.client.authenticated,
      );
      expect(await second.evaluate(() => (globalThis as unknown as InPage).latchkeyTest.events)).toContain(
        'loggedOut',
      );
      // The cookie was cleared too: a reload finds no session to resume.
      expect(
        await second.evaluate(() => (globalThis as unknown as InPage).latchkeyTest.client.restore()),
      ).toBe(false);
    } finally {
      await context.close();
    }
  });
});
