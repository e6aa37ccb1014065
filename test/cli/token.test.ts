import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSigner, type JWTPayload, signJWS } from '../../src/jwt/index.js';
import type { Runtime } from '../../src/server/runtime.js';
import { CLIENT, createTestDatabase, PASSWORD, runCLI, type TestDatabase } from './run-cli.js';

const HOUR = 3_600_000;

let db: TestDatabase;
let login: { accessToken: string; refreshToken: string; sessionId: string; userId: string };
beforeEach(async () => {
  db = await createTestDatabase();
  const added = await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], { stdin: PASSWORD });
  const userId = added.stdout.trim();
  login = {
    ...(await db.withRuntime(({ service }) => service.login('ann@example.com', PASSWORD, CLIENT))),
    userId,
  };
});
afterEach(async () => db.remove());

/** A token signed with the server's current key, with the claims an access token has unless overridden. */
function signWithServerKey(
  options: { audience?: string; issuer?: string; issuedAt?: number; typ?: string },
  claims: JWTPayload = {},
): Promise<string> {
  return db.withRuntime(async ({ keys, config }: Runtime) => {
    const sign = createSigner({
      key: keys.signingKey,
      typ: options.typ ?? 'at+jwt',
      issuer: options.issuer ?? config.issuer,
      audience: options.audience ?? config.audience,
      expiresInSeconds: config.accessTtlSeconds,
      jti: true,
      now: () => options.issuedAt ?? Date.now(),
    });
    return sign({ sub: login.userId, sid: login.sessionId, client_id: config.clientId, ...claims });
  });
}

/** The "✗ name: …" lines of the verification section. */
const problems = (stdout: string) => [...stdout.matchAll(/^ {2}✗ ([^:]+):/gm)].map((match) => match[1]);

describe('latchkey token inspect', () => {
  it('shows escape sequences and bidi overrides in a token as text, never acts on them', async () => {
    const hostile = '\u001b]0;owned\u0007\u001b[2J\r  ✓ signature verified\u202e';
    const token = await signWithServerKey({}, { sub: hostile, client_id: hostile });
    const result = await db.run(['token', 'inspect', token]);
    for (const char of ['\u001b', '\u0007', '\r', '\u202e']) expect(result.stdout).not.toContain(char);
    expect(result.stdout).toContain('\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}');
  });

  it('keeps a claim with newlines on its own row, so it cannot add lines to the verdict', async () => {
    const forged = 'x\n  ✓ signature verified\nResult: valid\t';
    const token = await signWithServerKey({}, { sub: forged });
    const result = await db.run(['token', 'inspect', token]);
    expect(result.stdout).not.toMatch(/^\s*✓ signature verified$/m);
    // The one verdict is the real one.
    expect(result.stdout.match(/^Result:/gm)).toEqual(['Result:']);
    const [row] = result.stdout.split('\n').filter((line) => line.trimStart().startsWith('sub '));
    expect(row).toContain('x\\u{a}  ✓ signature verified\\u{a}Result: valid\\u{9}');
  });
  it('decodes, explains and accepts a token the server issued (exit 0)', async () => {
    const result = await db.run(['token', 'inspect', login.accessToken]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(
      /^Header\n {2}\{\n {4}"alg": "ES256",\n {4}"typ": "at\+jwt",\n {4}"kid": "[\w-]{43}"\n {2}\}\n/,
    );
    expect(out).toContain(`Payload\n  {\n    "sub": "${login.userId}",`);
    expect(out).toContain('Signature\n  64 bytes\n');
    expect(out).toMatch(/^ {2}iss +http:\/\/localhost:3000 +issuer: who issued and signed it$/m);
    expect(out).toMatch(new RegExp(`^ {2}sub +${login.userId} +subject: .* \\(ann@example\\.com\\)$`, 'm'));
    expect(out).toMatch(/^ {2}aud +http:\/\/localhost:3000 +audience: /m);
    expect(out).toMatch(/^ {2}exp +\d+ +\d{4}-\d\d-\d\dT[\d:]{8}Z: expires in 1[45] minutes$/m);
    expect(out).toMatch(/^ {2}iat +\d+ +\S+: issued (just now|\d+ seconds? ago)$/m);
    expect(out).toMatch(/^ {2}jti +[\w-]{36} +token id: /m);
    expect(out).toMatch(new RegExp(`^ {2}sid +${login.sessionId} +session id: .* \\(active\\)$`, 'm'));
    expect(out).toMatch(/^ {2}client_id +latchkey +client: /m);
    expect(out).toMatch(/✓ signature verified with key [\w-]{43} \(ES256\)/);
    expect(problems(out)).toEqual([]);
    expect(out).toContain('Result: valid.');
    // Reading the token from stdin keeps it out of the shell history, with the same verdict.
    expect((await db.run(['token', 'inspect', '-'], { stdin: `${login.accessToken}\n` })).code).toBe(0);
  });

  it("explains the roles claim, and notes when the user's roles changed since the token was issued", async () => {
    await db.run(['users', 'roles', 'ann@example.com', 'add', 'admin']);
    await db.run(['users', 'roles', 'ann@example.com', 'add', 'billing:read']);
    const token = await db.withRuntime(
      async ({ service }) => (await service.login('ann@example.com', PASSWORD, CLIENT)).accessToken,
    );
    const result = await db.run(['token', 'inspect', token]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^ {2}roles +\["admin","billing:read"\] +roles: what the user may do, as the server knew it at issue \(RFC 9068 §2\.2\.3\.1\); absent for none$/m,
    );
    expect(result.stdout).toContain('Result: valid.');

    await db.run(['users', 'roles', 'ann@example.com', 'remove', 'admin']);
    const changed = await db.run(['token', 'inspect', token]);
    // Still valid: the token is right about when it was issued; the note says what the next one carries.
    expect(changed.code).toBe(0);
    expect(changed.stdout).toMatch(/^ {2}roles +.*; absent for none \(the user has billing:read now\)$/m);
    await db.run(['users', 'roles', 'ann@example.com', 'remove', 'billing:read']);
    expect((await db.run(['token', 'inspect', token])).stdout).toMatch(/\(the user has none now\)$/m);
    // A token without roles gets no roles row at all.
    expect((await db.run(['token', 'inspect', login.accessToken])).stdout).not.toMatch(/^ {2}roles /m);
  });

  it('names a roles claim that is not an array of strings, as the server refuses it (exit 1)', async () => {
    for (const roles of ['admin', ['admin', 7], null]) {
      const result = await db.run(['token', 'inspect', await signWithServerKey({}, { roles })]);
      expect(result.code).toBe(1);
      expect(problems(result.stdout)).toEqual(['invalid claim']);
      expect(result.stdout).toContain('✗ invalid claim: "roles" must be an array of strings');
      expect(result.stdout).toContain('✓ signature verified');
    }
  });

  it('names "expired" for a token signed with the server key three hours ago (exit 1)', async () => {
    const token = await signWithServerKey({ issuedAt: Date.now() - 3 * HOUR });
    const result = await db.run(['token', 'inspect', token]);
    expect(result.code).toBe(1);
    expect(problems(result.stdout)).toEqual(['expired']);
    expect(result.stdout).toMatch(
      /✗ expired: the token expired 2 hours ago \(exp \S+Z, clock tolerance 30 s\)/,
    );
    expect(result.stdout).toMatch(/^ {2}exp +\d+ +\S+: expired 2 hours ago$/m);
    expect(result.stdout).toContain('✓ signature verified');
    expect(result.stdout).toContain('Result: invalid, 1 problem: expired');
    expect(result.stdout).toMatch(/^Verification \(1 server key; /m);
  });

  it('names a token that claims a longer life than the server gives, or an iat ahead, as this server does', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    // As only a stolen key would sign it: issued 3 hours ago, expiring in 10 years.
    const longLived = await signWithServerKey(
      { issuedAt: Date.now() - 3 * HOUR },
      { exp: nowSeconds + 10 * 365 * 86400 },
    );
    const old = await db.run(['token', 'inspect', longLived]);
    expect(old.code).toBe(1);
    expect(problems(old.stdout)).toEqual(['too old']);
    expect(old.stdout).toMatch(
      /✗ too old: the token was issued 3 hours ago \(iat \S+Z, clock tolerance 30 s\), longer ago than this server's access-token lifetime \(LATCHKEY_ACCESS_TTL 900 s\)/,
    );
    expect(old.stdout).toContain('✓ signature verified');

    // Half a minute past the hour, so that the seconds the command takes do not make it 59 minutes.
    const ahead = await signWithServerKey({ issuedAt: Date.now() + HOUR + 30_000 });
    const future = await db.run(['token', 'inspect', ahead]);
    expect(future.code).toBe(1);
    expect(problems(future.stdout)).toEqual(['issued in the future']);
    expect(future.stdout).toMatch(
      /✗ issued in the future: the token says it was issued in 1 hour \(iat \S+Z, clock tolerance 30 s\)$/m,
    );
  });

  it('names every problem at once: wrong aud and expired, and wrong typ with a missing claim', async () => {
    const token = await signWithServerKey({
      audience: 'https://api.other.example',
      issuedAt: Date.now() - 3 * HOUR,
    });
    const result = await db.run(['token', 'inspect', token]);
    expect(result.code).toBe(1);
    expect(problems(result.stdout)).toEqual(['wrong aud', 'expired']);
    expect(result.stdout).toContain(
      '✗ wrong aud: the audience is "https://api.other.example"; this server accepts "http://localhost:3000"',
    );
    expect(result.stdout).toContain('Result: invalid, 2 problems: wrong aud, expired');
    // The issuer was only this command's default: it says so, and how to judge as the server does.
    expect(result.stdout).toContain(
      'Hint: this command took the issuer http://localhost:3000 from its default port, not from a server',
    );
    const asServer = await runCLI(['token', 'inspect', token], {
      ...db.env,
      LATCHKEY_ISSUER: 'http://localhost:3000',
    });
    expect(problems(asServer.stdout)).toEqual(['wrong aud', 'expired']);
    expect(asServer.stdout).not.toContain('Hint:');

    const other = await signWithServerKey({ typ: 'JWT', issuer: 'https://evil.example' }, { sid: undefined });
    const second = await db.run(['token', 'inspect', other]);
    expect(second.code).toBe(1);
    expect(problems(second.stdout).sort()).toEqual(['missing claim', 'wrong iss', 'wrong typ']);
  });

  it('names a bad signature on a tampered token, and labels its claim findings as unverified', async () => {
    const [header, payload] = login.accessToken.split('.');
    const forged = { ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), exp: 1 };
    const signature = (await signWithServerKey({})).split('.')[2];
    const token = `${header}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
    const result = await db.run(['token', 'inspect', token]);
    expect(result.code).toBe(1);
    expect(problems(result.stdout)).toEqual(['bad signature', 'expired']);
    expect(result.stdout).toMatch(
      /✗ bad signature: the signature does not match key [\w-]{43}: the token was changed/,
    );
    expect(result.stdout).toMatch(/Claims checked although the signature did not verify.*\n {2}✗ expired: /);
    expect(result.stdout).not.toContain('✓ signature verified');
  });

  it('names an unknown kid, an alg mismatch, and a revoked session', async () => {
    const [header, payload, signature] = login.accessToken.split('.');
    const decoded = JSON.parse(Buffer.from(header ?? '', 'base64url').toString());
    const withHeader = (changes: object) =>
      [
        Buffer.from(JSON.stringify({ ...decoded, ...changes })).toString('base64url'),
        payload,
        signature,
      ].join('.');
    const unknown = await db.run(['token', 'inspect', withHeader({ kid: 'no-such-key' })]);
    expect(problems(unknown.stdout)).toEqual(['unknown kid']);
    const mismatch = await db.run(['token', 'inspect', withHeader({ alg: 'RS256' })]);
    expect(problems(mismatch.stdout)).toEqual(['alg mismatch']);
    expect(mismatch.stdout).toMatch(/the token says RS256, but key [\w-]+ is bound to ES256/);

    await db.run(['sessions', 'revoke', login.sessionId]);
    const revoked = await db.run(['token', 'inspect', login.accessToken]);
    expect(revoked.code).toBe(1);
    expect(problems(revoked.stdout)).toEqual(['session revoked']);
    expect(revoked.stdout).toMatch(/^ {2}sid +\S+ +session id: .* \(revoked\)$/m);
  });

  it('names a key revoked after a compromise, rather than an unknown kid', async () => {
    const kid = JSON.parse(Buffer.from(login.accessToken.split('.')[0] ?? '', 'base64url').toString()).kid;
    const revoked = await db.run(['keys', 'rotate', '--revoke']);
    expect(revoked.code).toBe(0);
    const result = await db.run(['token', 'inspect', login.accessToken]);
    expect(result.code).toBe(1);
    expect(problems(result.stdout)).toEqual(['revoked key']);
    expect(result.stdout).toMatch(
      new RegExp(
        `✗ revoked key: key ${kid} was revoked at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(latchkey keys revoke\\)`,
      ),
    );
  });

  it('reports times past what a date holds instead of crashing on them', async () => {
    for (const claims of [{ exp: 1e16 }, { exp: -1e308 }, { iat: 1e20, nbf: 1e300 }]) {
      const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'x' })).toString(
        'base64url',
      );
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      const result = await db.run(['token', 'inspect', `${header}.${payload}.AAAA`]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/not a usable time/);
      expect(result.stdout).toMatch(/^Result: invalid/m);
    }
  });

  it('shows a deeply nested token instead of crashing on it', async () => {
    // JSON.parse takes any depth; JSON.stringify overflows the stack on 5,500 levels.
    const deep = `${'['.repeat(5500)}${']'.repeat(5500)}`;
    const token = await db.withRuntime(async ({ keys, config }: Runtime) => {
      const claims = JSON.stringify({
        iss: config.issuer,
        sub: login.userId,
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 60,
        sid: login.sessionId,
        client_id: config.clientId,
        jti: 'deep',
      });
      // Our signer stringifies claims too, so the deep part is spliced into the text.
      return signJWS(`${claims.slice(0, -1)},"aud":${deep}}`, keys.signingKey, {
        typ: 'at+jwt',
      });
    });
    const result = await db.run(['token', 'inspect', token]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^Payload\n {2}\(nested too deeply to show\)$/m);
    expect(result.stdout).toMatch(/^ {2}aud +\(nested too deeply to show\) +audience: /m);
    expect(result.stdout).toContain('✓ signature verified');
    expect(result.stdout).toContain('✗ invalid claim: "aud" claim must be a string or an array of strings');
    expect(problems(result.stdout)).toEqual(['invalid claim']);
  });

  it('names malformed input (exit 1) and never echoes a refresh token', async () => {
    const garbage = await db.run(['token', 'inspect', 'this is not a token']);
    expect(garbage.code).toBe(1);
    expect(garbage.stdout).toContain(
      '✗ malformed: a JWT has three base64url parts separated by dots; this has 1',
    );

    const parts = await db.run(['token', 'inspect', 'e30.bm90IGpzb24.!!']);
    expect(parts.code).toBe(1);
    expect(parts.stdout).toContain('✗ malformed: the header has no alg');
    expect(parts.stdout).toContain('✗ malformed: the payload is not JSON');
    expect(parts.stdout).toContain('✗ malformed: the signature is not canonical base64url');

    const refresh = await db.run(['token', 'inspect', login.refreshToken]);
    expect(refresh.code).toBe(1);
    expect(refresh.stderr).toMatch(/^latchkey: that is a refresh token/);
    expect(refresh.stdout + refresh.stderr).not.toContain(login.refreshToken);
  });
});
