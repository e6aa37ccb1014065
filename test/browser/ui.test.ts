/**
 * The web UI in Debian's Chromium against a real server process (started as `npm start` starts one)
 * with a 3-second access-token lifetime, so silent refresh happens within the test. Waits are polls
 * with deadlines (Playwright's auto-waiting and expect.poll), never fixed sleeps.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserUnavailable, launchChromium } from './browser.js';
import { startUIServer, type UIServer } from './ui-server.js';

const PASSWORD = 'correct horse battery staple';
const SHOTS = fileURLToPath(new URL('../../test-results/ui/', import.meta.url));
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const unavailable = browserUnavailable();
if (unavailable !== null) console.warn(unavailable);

let browser: Browser;
/** Access tokens live 3 s: the flow tests see them expire and renew. */
let server: UIServer;
/** Default lifetimes: stable pages for the accessibility check and the screenshots. */
let calmServer: UIServer;

beforeAll(async () => {
  if (unavailable !== null) return;
  [server, calmServer, browser] = await Promise.all([
    startUIServer({ LATCHKEY_ACCESS_TTL: '3' }),
    startUIServer(),
    launchChromium(),
  ]);
  await mkdir(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([server?.close(), calmServer?.close()]);
});

const newEmail = () => `${randomUUID().slice(0, 8)}@example.com`;

async function registerByAPI(on: UIServer, email: string): Promise<void> {
  const response = await fetch(`${on.baseUrl}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  expect(response.status).toBe(201);
}

async function accessTokenByAPI(on: UIServer, email: string): Promise<string> {
  const response = await fetch(`${on.baseUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, refresh_in: 'body' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function heading(page: Page) {
  return page.getByRole('heading', { level: 1 });
}

/** On the Log in page: fills the form and waits for the Dashboard with this user on it. */
async function logIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await expect.poll(() => heading(page).textContent()).toBe('Log in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('me-email').filter({ hasText: email }).waitFor();
  await page.locator('.session-current').waitFor();
}

async function openLoggedIn(context: BrowserContext, on: UIServer, email: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${on.baseUrl}/login`);
  await logIn(page, email);
  return page;
}

/** The text of the notice (role=status) on Log in. */
async function notice(page: Page): Promise<string> {
  await expect.poll(() => heading(page).textContent()).toBe('Log in');
  return (await page.locator('.notice').textContent()) ?? '';
}

describe.skipIf(unavailable !== null)('the web UI', () => {
  it('register → log in → Dashboard → reload → silent refresh → revoked elsewhere → log in again → log out everywhere', async () => {
    const email = newEmail();
    const first = await browser.newContext();
    const second = await browser.newContext();
    try {
      const page = await first.newPage();
      const refreshes: number[] = [];
      page.on('response', (response) => {
        if (new URL(response.url()).pathname === '/auth/refresh') refreshes.push(response.status());
      });

      // The site's address without a session: Log in, no reason given, and no request for an icon.
      const requested: string[] = [];
      page.on('request', (request) => requested.push(new URL(request.url()).pathname));
      await page.goto(`${server.baseUrl}/`);
      await expect.poll(() => heading(page).textContent()).toBe('Log in');
      expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/login');
      expect(await page.locator('.notice').count()).toBe(0);
      expect(requested).not.toContain('/favicon.ico');

      // A protected page without a session goes to Log in, which returns there afterwards.
      await page.goto(`${server.baseUrl}/dashboard`);
      expect(await notice(page)).toBe('Log in to see that page.');
      expect(new URL(page.url()).search).toBe('?next=%2Fdashboard');

      await page.getByRole('link', { name: 'Create one' }).click();
      await expect.poll(() => heading(page).textContent()).toBe('Create account');
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      expect(await notice(page)).toBe('Account created. Log in with your email and password.');
      expect(await page.getByLabel('Email').inputValue()).toBe(email);

      await logIn(page, email);
      expect(new URL(page.url()).pathname).toBe('/dashboard');
      expect(await page.locator('.session-current .badge').textContent()).toBe('This device');

      // A reload keeps the session: the refresh cookie brings a new access token.
      await page.reload();
      await page.getByTestId('me-email').filter({ hasText: email }).waitFor();
      expect(new URL(page.url()).pathname).toBe('/dashboard');

      // Past the access token's lifetime (the countdown says so), acting renews it silently.
      await page.locator('.countdown-over').waitFor({ timeout: 10_000 });
      const before = refreshes.length;
      await page.getByRole('button', { name: 'Reload sessions' }).click();
      await expect.poll(() => refreshes.slice(before)).toContain(200);
      await page.locator('.flow-msg strong', { hasText: 'POST /auth/refresh' }).first().waitFor();
      expect(new URL(page.url()).pathname).toBe('/dashboard');

      // A second device revokes this session; the next action here lands on Log in with the reason.
      const other = await openLoggedIn(second, server, email);
      await other.locator('.session').nth(1).waitFor();
      await other
        .locator('.session:not(.session-current)')
        .getByRole('button', { name: /^Revoke/ })
        .click();
      await expect.poll(() => other.locator('.session').count()).toBe(1);
      await page.getByRole('button', { name: 'Reload sessions' }).click();
      expect(await notice(page)).toMatch(/^Your session has ended: it was revoked/);
      expect(new URL(page.url()).search).toBe('?next=%2Fdashboard');

      // Logging in again returns to the Dashboard; logging out everywhere ends the other device too.
      await logIn(page, email);
      await page.getByRole('button', { name: 'Log out everywhere' }).click();
      expect(await notice(page)).toBe('You logged out everywhere: every session of your account has ended.');
      await other.getByRole('button', { name: 'Reload sessions' }).click();
      expect(await notice(other)).toMatch(/^Your session has ended/);
    } finally {
      await first.close();
      await second.close();
    }
  }, 90_000);

  it('ties wrong password, taken email, weak password and throttling to their fields', async () => {
    const email = newEmail();
    await registerByAPI(server, email);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${server.baseUrl}/register`);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill('short');
      await page.getByRole('button', { name: 'Create account' }).click();
      const password = page.getByLabel('Password');
      await expect.poll(() => password.getAttribute('aria-invalid')).toBe('true');
      expect(await password.getAttribute('aria-describedby')).toBe('password-hint password-error');
      expect(await page.locator('#password-error').textContent()).toBe(
        'This password is too short: use at least 8 characters.',
      );

      await password.fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      const emailField = page.getByLabel('Email');
      await expect.poll(() => emailField.getAttribute('aria-invalid')).toBe('true');
      expect(await emailField.getAttribute('aria-describedby')).toBe('email-error');
      expect(await page.locator('#email-error').textContent()).toBe(
        'An account with this email already exists. Log in instead, or use another email.',
      );
      expect(await page.locator('#email-error').getAttribute('aria-live')).toBe('assertive');

      await page.getByRole('link', { name: 'Log in', exact: true }).last().click();
      await expect.poll(() => heading(page).textContent()).toBe('Log in');
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => page.getByLabel('Password').getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator('#password-error').textContent()).toBe(
        'Wrong email or password. Check both and try again.',
      );

      // Five failures in a row: the next attempt is throttled, and the page says how long to wait.
      for (let attempt = 0; attempt < 6; attempt++) {
        await page.getByLabel('Password').fill(`wrong password ${attempt}`);
        const answered = page.waitForResponse((r) => r.url().endsWith('/auth/login'));
        await page.getByRole('button', { name: /^Log in/ }).click();
        if ((await answered).status() === 429) break;
      }
      const alert = page.getByRole('alert');
      await expect
        .poll(() => alert.textContent())
        .toMatch(/^Too many attempts\. Wait \d+ seconds?, then try again\.$/);
      expect(await page.locator('form').getAttribute('aria-describedby')).toBe('login-form-error');
      expect(await page.getByRole('button', { name: /^Log in \(wait \d+ s\)$/ }).isDisabled()).toBe(true);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('changes the password: each mistake on its field, the other sessions end, only the new password logs in', async () => {
    const email = newEmail();
    const changed = 'a new and longer passphrase';
    await registerByAPI(calmServer, email);
    const first = await browser.newContext();
    const second = await browser.newContext();
    try {
      const page = await openLoggedIn(first, calmServer, email);
      const other = await openLoggedIn(second, calmServer, email);
      await page.getByRole('button', { name: 'Reload sessions' }).click();
      await expect.poll(() => page.locator('.session').count()).toBe(2);
      const sent: number[] = [];
      page.on('response', (response) => {
        if (new URL(response.url()).pathname === '/auth/password') sent.push(response.status());
      });
      const current = page.getByLabel('Current password');
      const fresh = page.getByLabel('New password');
      const change = page.getByRole('button', { name: 'Change password' });

      // Too short, counted as the server counts: four emoji are 8 UTF-16 units but 4 characters.
      await current.fill(PASSWORD);
      await fresh.fill('🔑🔑🔑🔑');
      await change.click();
      await expect.poll(() => fresh.getAttribute('aria-invalid')).toBe('true');
      expect(await fresh.getAttribute('aria-describedby')).toBe('new_password-hint new_password-error');
      expect(await page.locator('#new_password-error').textContent()).toBe(
        'This password is too short: use at least 8 characters.',
      );
      expect(await current.getAttribute('aria-invalid')).toBeNull();
      await expect
        .poll(() => page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.id))
        .toBe('new_password');

      // Too long, the other end of the same rule; neither reaches the server.
      await fresh.fill('x'.repeat(1025));
      await change.click();
      await expect
        .poll(() => page.locator('#new_password-error').textContent())
        .toBe('This password is too long: use at most 1024 characters.');
      expect(sent).toEqual([]);

      // A rule only the server knows: its message, field name and all, becomes the field's words.
      await page.route('**/auth/password', (route) =>
        route.fulfill({
          status: 400,
          json: {
            error: 'invalid_request',
            message: 'body/new_password must NOT have more than 1024 characters',
          },
        }),
      );
      await fresh.fill(changed);
      await change.click();
      await expect
        .poll(() => page.locator('#new_password-error').textContent())
        .toBe('The new password must NOT have more than 1024 characters.');
      await page.unroute('**/auth/password');

      // A wrong current password: on its own field, the new one cleared of blame.
      await current.fill('not the password');
      await fresh.fill(changed);
      await change.click();
      await expect.poll(() => current.getAttribute('aria-invalid')).toBe('true');
      expect(await current.getAttribute('aria-describedby')).toBe('current_password-error');
      expect(await page.locator('#current_password-error').textContent()).toBe(
        'That is not your current password.',
      );
      expect(await fresh.getAttribute('aria-invalid')).toBeNull();
      expect(sent).toEqual([400, 403]); // the 400 is the stubbed answer above

      await current.fill(PASSWORD);
      await fresh.fill(changed);
      await change.click();
      await page.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor();
      expect(await page.locator('.notice').textContent()).toBe(
        'Password changed. Your other sessions were logged out.',
      );
      expect(sent).toEqual([400, 403, 204]);
      expect(await current.inputValue()).toBe('');
      expect(await fresh.inputValue()).toBe('');
      // This session stays; the other is gone from the list, which reloads after the change.
      await expect.poll(() => page.locator('.session').count()).toBe(1);
      expect(await page.locator('.session-current').count()).toBe(1);

      // The other device, logged in before the change, is sent to Log in on its next action.
      await other.getByRole('button', { name: 'Reload sessions' }).click();
      expect(await notice(other)).toMatch(/^Your session has ended: it was revoked .*a change of password/);

      // A logout the server does not answer: this device is still logged in, and the page says so
      // instead of claiming a logout that a reload would undo.
      await page.route('**/auth/logout', (route) =>
        route.fulfill({ status: 503, json: { error: 'unavailable', message: 'the store is unavailable' } }),
      );
      await page.getByRole('button', { name: 'Log out', exact: true }).click();
      await expect
        .poll(() => page.locator('#dashboard-error').textContent())
        .toBe('Not logged out. The store is unavailable.');
      await page.unroute('**/auth/logout');
      await page.reload();
      await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();

      // Here: log out; the old password is refused on its field, the new one logs in.
      await page.getByRole('button', { name: 'Log out', exact: true }).click();
      expect(await notice(page)).toBe('You logged out on this device.');
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => page.getByLabel('Password').getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator('#password-error').textContent()).toBe(
        'Wrong email or password. Check both and try again.',
      );
      await logIn(page, email, changed);
    } finally {
      await first.close();
      await second.close();
    }
  }, 60_000);

  it('the inspector decodes, explains and verifies a pasted token, flags tampering, and never sends it', async () => {
    // A token that lives 15 minutes for the checks that must see it valid; a 3-second one to expire.
    const email = newEmail();
    await registerByAPI(calmServer, email);
    const token = await accessTokenByAPI(calmServer, email);
    await registerByAPI(server, email);
    const shortLived = await accessTokenByAPI(server, email);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const carried: string[] = [];
      const [, payloadPart = ''] = token.split('.');
      page.on('request', (request) => {
        const seen = [request.url(), JSON.stringify(request.headers()), request.postData() ?? ''].join(' ');
        if (seen.includes(payloadPart) || seen.includes(shortLived.split('.')[1] ?? '')) {
          carried.push(request.url());
        }
      });
      await page.goto(`${calmServer.baseUrl}/inspect`);
      const input = page.getByLabel('Access token (JWT)');
      await input.fill(token);

      const verdict = page.locator('.verdict');
      await expect.poll(() => verdict.getAttribute('data-verdict')).toBe('valid');
      expect(await page.locator('.jwt-header').textContent()).toBe(token.split('.')[0]);
      expect(await page.locator('.jwt-payload').textContent()).toBe(payloadPart);
      expect(await page.locator('.jwt-signature').textContent()).toBe(token.split('.')[2]);
      const claims = (await page.locator('.claims').textContent()) ?? '';
      for (const words of [
        'issuer: the server that signed this token',
        'audience: the service meant to accept it',
        'session: the login this token belongs to',
        'client: the application the token was issued to',
        'expires in',
      ]) {
        expect(claims).toContain(words);
      }
      expect(claims).toMatch(/issued (now|\d+ seconds? ago)/);
      expect(await page.locator('.countdown').textContent()).toMatch(/^Expires in 1[45]:\d\d$/);

      // Tampered payload: the signature no longer matches.
      const claimsObject = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
      const forged = Buffer.from(JSON.stringify({ ...claimsObject, roles: ['admin'] })).toString('base64url');
      const [headerPart = '', , signaturePart = ''] = token.split('.');
      await input.fill(`${headerPart}.${forged}.${signaturePart}`);
      await expect.poll(() => verdict.getAttribute('data-verdict')).toBe('bad signature');
      expect(await verdict.textContent()).toContain('The signature does not match the header and payload');

      // A key the server never published.
      const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
      const otherKey = Buffer.from(JSON.stringify({ ...header, kid: 'nobody' })).toString('base64url');
      await input.fill(`${otherKey}.${payloadPart}.${signaturePart}`);
      await expect.poll(() => verdict.getAttribute('data-verdict')).toBe('unknown key');

      await input.fill('not.a-token');
      await expect.poll(() => page.locator('.verdict').textContent()).toContain('Not a JWT');

      // On the server whose tokens live 3 seconds: past that lifetime, expired, and said as such.
      await page.goto(`${server.baseUrl}/inspect`);
      await input.fill(shortLived);
      await expect.poll(() => verdict.getAttribute('data-verdict'), { timeout: 10_000 }).toBe('expired');
      expect(await verdict.textContent()).toMatch(/Invalid: expired\. It expired/);

      expect(carried).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('holds a strict Content-Security-Policy: no violation on any page', async () => {
    const email = newEmail();
    await registerByAPI(server, email);
    const token = await accessTokenByAPI(server, email);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
      const response = await page.goto(`${server.baseUrl}/login`);
      const policy = response?.headers()['content-security-policy'] ?? '';
      expect(policy).toContain("script-src 'self'");
      expect(policy).toMatch(/style-src 'self'(;|$)/);
      expect(policy).not.toContain('unsafe-inline');
      await page.evaluate(() => {
        const inPage = globalThis as unknown as InPage;
        inPage.cspViolations = [];
        inPage.document.addEventListener('securitypolicyviolation', (event) => {
          inPage.cspViolations.push(event.violatedDirective);
        });
      });
      await page.getByRole('link', { name: 'Create account' }).click();
      await expect.poll(() => heading(page).textContent()).toBe('Create account');
      await page.getByRole('link', { name: 'Token inspector' }).click();
      await page.getByLabel('Access token (JWT)').fill(token);
      await page.locator('.verdict[data-verdict]').waitFor();
      await page.getByRole('link', { name: 'Log in' }).first().click();
      await logIn(page, email);
      const inPage = await page.evaluate(
        () => (globalThis as unknown as { cspViolations: string[] }).cspViolations,
      );
      expect(inPage).toEqual([]);
      expect(violations).toEqual([]);
      // The stylesheet applied: the policy did not silently drop it.
      const background = await page.evaluate(() => {
        const inPage = globalThis as unknown as InPage;
        return inPage.getComputedStyle(inPage.document.body).backgroundColor;
      });
      expect(background).not.toBe('rgba(0, 0, 0, 0)');
    } finally {
      await context.close();
    }
  }, 60_000);

  describe.each(['light', 'dark'] as const)('in the %s theme', (scheme) => {
    it('has no serious or critical axe violations, and every page is screenshot at 390 and 1280 px', async () => {
      const email = newEmail();
      await registerByAPI(calmServer, email);
      const token = await accessTokenByAPI(calmServer, email);
      for (const width of [390, 1280]) {
        // axe is injected as a script of its own, which script-src 'self' refuses: this context
        // alone bypasses the policy (the test above proves the policy holds without it).
        const options: BrowserContextOptions = {
          colorScheme: scheme,
          viewport: { width, height: width === 390 ? 844 : 900 },
          bypassCSP: true,
        };
        const context = await browser.newContext(options);
        try {
          const page = await context.newPage();
          const shoot = async (name: string) => {
            await page.screenshot({ path: `${SHOTS}${name}-${width}-${scheme}.png`, fullPage: true });
            // The first screenful too: small enough for docs/screenshots.
            await page.screenshot({ path: `${SHOTS}${name}-${width}-${scheme}-top.png` });
            if (width === 1280) await expectAccessible(page, name);
          };
          await page.goto(`${calmServer.baseUrl}/login`);
          await expect.poll(() => heading(page).textContent()).toBe('Log in');
          await shoot('login');
          await page.getByRole('button', { name: 'Log in' }).click();
          await page.locator('#email-error:not(:empty)').waitFor();
          await shoot('login-errors');
          await page.goto(`${calmServer.baseUrl}/register`);
          await expect.poll(() => heading(page).textContent()).toBe('Create account');
          await shoot('register');
          await page.goto(`${calmServer.baseUrl}/inspect`);
          await page.getByLabel('Access token (JWT)').fill(token);
          await page.locator('.verdict[data-verdict="valid"]').waitFor();
          await shoot('inspect');
          await page.goto(`${calmServer.baseUrl}/login`);
          await logIn(page, email);
          await page.locator('.verdict[data-verdict="valid"]').waitFor();
          await shoot('dashboard');
          await page.locator('#flow').screenshot({ path: `${SHOTS}flow-${width}-${scheme}.png` });
        } finally {
          await context.close();
        }
      }
    }, 90_000);
  });
});

async function expectAccessible(page: Page, name: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run();
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  expect(violations, `axe on ${name}`).toEqual([]);
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** The little of the page's globals these tests touch (the test files have no DOM lib). */
interface InPage {
  cspViolations: string[];
  document: {
    body: unknown;
    activeElement: { id: string } | null;
    addEventListener(
      type: 'securitypolicyviolation',
      listener: (event: { violatedDirective: string }) => void,
    ): void;
  };
  getComputedStyle(element: unknown): { backgroundColor: string };
}
