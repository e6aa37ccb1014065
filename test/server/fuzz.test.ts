/**
 * Bad input at every endpoint, generated: malformed JSON, wrong types, huge and odd strings (unicode,
 * NUL, lone surrogates), deep nesting, and random headers, with or without valid credentials. The
 * server answers only 2xx or 4xx, every 4xx in the contract's `{error, message}` shape, and it stays
 * healthy: /healthz answers and a normal login works afterwards.
 */

import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';
import { login, me, nextIp, PASSWORD, registerUser, type TestUser } from './helpers.js';

const NUM_RUNS = 1500;

let app: FastifyInstance;
let survivor: TestUser;

beforeAll(async () => {
  app = await createTestApp();
  survivor = await registerUser(app);
});
afterAll(async () => app.close());

// ---------------------------------------------------------------------------------------------------
// Values

const ODD_CHARACTERS = [
  '\u0000',
  '\uD800',
  '\uDBFF',
  '\uDC00',
  '\uDFFF',
  '\uFFFF',
  '\uFEFF',
  '\u202E',
  '\u0301',
  '\u00A0',
  '\uFB00',
  '\u{1D51E}',
  '\u{1F600}',
  '"',
  '\\',
  '\n',
  '\r',
  '\t',
  '%',
  '@',
  '.',
  ';',
  '=',
  '\u2028',
];

const oddChar = fc.oneof(
  fc.constantFrom(...ODD_CHARACTERS),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: oddChar, maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    'a@b.c',
    'A@EXAMPLE.COM ',
    'password1',
    'lk_rt_',
    `lk_rt_${'A'.repeat(43)}`,
    'null',
  ),
);
/** Up to ~60 KiB: around the 64 KiB body limit, on both sides once JSON escaping counts. */
const hugeString = fc
  .tuple(
    fc.integer({ min: 1025, max: 60 * 1024 }),
    fc.constantFrom('a', 'é', '\u{1F600}', '\u0000', '"', '\uD800'),
  )
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));

const scalar = fc.oneof(
  oddString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(0, -1, 1e308, Number.MAX_SAFE_INTEGER),
);
/** Placeholders that a run replaces with real credentials of a fresh user and login. */
const VALID_ACCESS = '<valid access token>';
const VALID_REFRESH = '<valid refresh token>';
const VALID_EMAIL = '<valid email>';

/** Values that pass validation, per field, so that requests get past the schemas into the service. */
const PLAUSIBLE: Record<string, fc.Arbitrary<string>> = {
  email: fc.constantFrom(VALID_EMAIL, 'fuzz@example.com', ' Fuzz@Example.com '),
  password: fc.constantFrom(PASSWORD, 'password1'),
  current_password: fc.constantFrom(PASSWORD, 'password1'),
  new_password: fc.constantFrom('a new passphrase', 'short'),
  refresh_in: fc.constantFrom('body', 'cookie'),
  refresh_token: fc.constantFrom(VALID_REFRESH, `lk_rt_${'A'.repeat(43)}`),
};
const plausible = fc.oneof(...Object.values(PLAUSIBLE));

const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: plausible },
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(oddString, { maxLength: 3 }) },
);

const FIELDS = ['email', 'password', 'refresh_in', 'refresh_token', 'current_password', 'new_password'];

/** Objects with the contract's field names, plus strangers: the shapes most likely to get far. */
const bodyObject = fc
  .tuple(
    fc.subarray(FIELDS),
    fc.array(value, { minLength: FIELDS.length, maxLength: FIELDS.length }),
    fc.option(fc.tuple(fc.constantFrom('__proto__', 'constructor', 'admin', '', 'email '), value), {
      nil: undefined,
    }),
  )
  .map(([fields, values, extra]) => {
    const body: Record<string, unknown> = {};
    fields.forEach((field, i) => {
      body[field] = values[i];
    });
    if (extra !== undefined) Object.defineProperty(body, extra[0], { value: extra[1], enumerable: true });
    return body;
  });

const nested = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":', '{"email":'))
  .map(([depth, open]) => {
    const close = open === '[' ? ']' : '}';
    const inner = open === '[' ? '' : '1';
    return open.repeat(depth) + inner + close.repeat(depth);
  });

/** Request bodies as the text on the wire. */
const rawBody = fc.oneof(
  { weight: 5, arbitrary: bodyObject.map((body) => JSON.stringify(body)) },
  { weight: 2, arbitrary: value.map((v) => JSON.stringify(v) ?? 'undefined') },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: bodyObject.map((body) => JSON.stringify(body).slice(0, -1)) },
  { weight: 1, arbitrary: fc.string({ unit: oddChar, maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      '{"email":"a@b.c","email":["x"],"password":"password1"}',
      '{"__proto__":{"admin":true},"email":"a@b.c","password":"password1"}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '{"email":"\\ud800@b.c","password":"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000"}',
      '\uFEFF{}',
      'null',
      '[]',
      '1e999999',
    ),
  },
);

// ---------------------------------------------------------------------------------------------------
// Headers

/** What a header line can carry: visible ASCII, spaces, tabs and obs-text bytes. */
const headerText = fc.string({
  unit: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
    { weight: 1, arbitrary: fc.constant('\t') },
  ),
  maxLength: 60,
});

/** A header value that means: leave the header out. */
const NO_HEADER = '<no header>';

const headers = fc.record(
  {
    'content-type': fc.oneof(
      { weight: 12, arbitrary: fc.constant('application/json') },
      fc.constant(NO_HEADER),
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/json; charset=latin1',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/vnd.api+json',
        '*/*',
        '',
      ),
      headerText,
    ),
    authorization: fc.oneof(
      { weight: 3, arbitrary: fc.constant(`Bearer ${VALID_ACCESS}`) },
      headerText.map((t) => `Bearer ${t}`),
      fc.constantFrom(
        'Bearer',
        'Bearer ',
        'bearer a.b.c',
        'Basic Zm9vOmJhcg==',
        'Bearer a.b.c.d',
        'Bearer ....',
      ),
      headerText,
    ),
    cookie: fc.oneof(
      { weight: 3, arbitrary: fc.constant(`latchkey_refresh=${VALID_REFRESH}`) },
      headerText.map((t) => `latchkey_refresh=${t}`),
      fc.constantFrom(
        'latchkey_refresh=',
        'latchkey_refresh=a; latchkey_refresh=b',
        'latchkey_refresh=%ZZ',
        '=',
      ),
      headerText,
    ),
    origin: fc.oneof(
      { weight: 3, arbitrary: fc.constant('http://localhost:3000') },
      fc.constantFrom('https://evil.example', 'null', ''),
      headerText,
    ),
    'sec-fetch-site': fc.oneof(fc.constantFrom('same-origin', 'same-site', 'cross-site', 'none'), headerText),
    'x-forwarded-for': fc.oneof(fc.ipV4(), headerText),
    'user-agent': fc.oneof(headerText, fc.constant('x'.repeat(4096))),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', ''),
    'x-random': headerText,
  },
  { requiredKeys: ['content-type'] },
);

// ---------------------------------------------------------------------------------------------------
// Requests

/** Percent-encodes every UTF-8 byte of a string (a lone surrogate becomes U+FFFD). */
const percentEncode = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

type Method = 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH' | 'OPTIONS';

const target = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom<[Method, string]>(
      ['POST', '/auth/register'],
      ['POST', '/auth/login'],
      ['POST', '/auth/refresh'],
      ['POST', '/auth/logout'],
      ['POST', '/auth/password'],
    ),
  },
  fc.constantFrom<[Method, string]>(
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['POST', '/auth/refresh'],
    ['POST', '/auth/logout'],
    ['POST', '/auth/logout-all'],
    ['GET', '/auth/sessions'],
    ['POST', '/auth/password'],
    ['GET', '/api/me'],
    ['GET', '/.well-known/jwks.json'],
    ['GET', '/.well-known/openid-configuration'],
    ['GET', '/.well-known/revoked-sessions'],
    ['GET', '/healthz'],
    ['GET', '/readyz'],
    ['GET', '/metrics'],
    ['GET', '/openapi.json'],
  ),
  oddString.map((id): [Method, string] => ['DELETE', `/auth/sessions/${percentEncode(id) || 'x'}`]),
  oddString.map((since): [Method, string] => [
    'GET',
    `/.well-known/revoked-sessions?since=${percentEncode(since)}`,
  ]),
  fc
    .tuple(
      fc.constantFrom<Method>('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'),
      fc.constantFrom('/auth/', '/api/', '/.well-known/'),
      fc.oneof(oddString.map(percentEncode), fc.webSegment(), fc.constantFrom('%ZZ', '%', '..%2f', '%00')),
    )
    .map(([method, prefix, rest]): [Method, string] => [method, prefix + rest]),
  fc.constantFrom<[Method, string]>(
    ['PUT', '/auth/login'],
    ['PATCH', '/api/me'],
    ['OPTIONS', '/auth/refresh'],
  ),
);

/** The fields of each JSON body of the contract: required ones first, then optional ones. */
const BODY_SHAPES: Record<string, { required: string[]; optional: string[] }> = {
  '/auth/register': { required: ['email', 'password'], optional: [] },
  '/auth/login': { required: ['email', 'password'], optional: ['refresh_in'] },
  '/auth/refresh': { required: [], optional: ['refresh_token'] },
  '/auth/logout': { required: [], optional: ['refresh_token'] },
  '/auth/password': { required: ['current_password', 'new_password'], optional: [] },
};

const fieldValue = (field: string) =>
  fc.oneof(
    { weight: 8, arbitrary: PLAUSIBLE[field] ?? plausible },
    { weight: 3, arbitrary: oddString },
    { weight: 1, arbitrary: hugeString },
    { weight: 1, arbitrary: value },
  );

/** A body of the right shape with odd values: it gets past the schema far more often. */
function shapedBody(shape: { required: string[]; optional: string[] }): fc.Arbitrary<string> {
  const fields = [...shape.required, ...shape.optional];
  const record = fc.record(Object.fromEntries(fields.map((field) => [field, fieldValue(field)])), {
    requiredKeys: shape.required,
  });
  return record.map((body) => JSON.stringify(body));
}

const request = target.chain(([method, url]) => {
  const shape = BODY_SHAPES[url];
  const body =
    shape === undefined
      ? rawBody
      : fc.oneof({ weight: 3, arbitrary: shapedBody(shape) }, { weight: 2, arbitrary: rawBody });
  return fc.tuple(fc.constant(method), fc.constant(url), fc.option(body, { nil: undefined, freq: 5 }));
});

/** Puts a fresh user's real credentials where a request has placeholders (they may get revoked). */
async function withCredentials(texts: string[]): Promise<string[]> {
  const placeholders = [VALID_ACCESS, VALID_REFRESH, VALID_EMAIL];
  if (!texts.some((text) => placeholders.some((placeholder) => text.includes(placeholder)))) return texts;
  const user = await registerUser(app);
  const { accessToken, refreshToken } = await login(app, user, { remoteAddress: nextIp() });
  return texts.map((text) =>
    text
      .replaceAll(VALID_ACCESS, accessToken)
      .replaceAll(VALID_REFRESH, refreshToken)
      .replaceAll(VALID_EMAIL, user.email),
  );
}

function expectContractAnswer(res: Awaited<ReturnType<FastifyInstance['inject']>>, label: string): void {
  const status = res.statusCode;
  const ok = (status >= 200 && status < 300) || (status >= 400 && status < 500);
  if (!ok) throw new Error(`${label}: status ${status}: ${res.body.slice(0, 300)}`);
  if (status < 400) return;
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    throw new Error(`${label}: ${status} body is not JSON: ${res.body.slice(0, 300)}`);
  }
  const problem = body as { error?: unknown; message?: unknown };
  const keys = typeof body === 'object' && body !== null ? Object.keys(body).sort().join() : '';
  if (keys !== 'error,message' || typeof problem.error !== 'string' || typeof problem.message !== 'string') {
    throw new Error(`${label}: ${status} body is not {error, message}: ${res.body.slice(0, 300)}`);
  }
  // A stable code such as invalid_request, not a reason phrase such as "Bad Request".
  if (!/^[a-z][a-z_]*$/.test(problem.error)) {
    throw new Error(`${label}: ${status} error is not a code: ${res.body.slice(0, 300)}`);
  }
}

describe('fuzzing every endpoint', () => {
  it('answers only 2xx or 4xx with the error shape, and stays healthy', async () => {
    await fc.assert(
      fc.asyncProperty(
        request,
        headers,
        fc.ipV4(),
        async ([method, url, body], headerValues, remoteAddress) => {
          const present = Object.entries(headerValues).filter(([, text]) => text !== NO_HEADER);
          const names = present.map(([name]) => name);
          const texts = await withCredentials([...present.map(([, text]) => text), body ?? '']);
          const requestHeaders = Object.fromEntries(names.map((name, i) => [name, texts[i] as string]));
          const options: InjectOptions = { method, url, headers: requestHeaders, remoteAddress };
          if (body !== undefined) options.payload = texts[names.length] as string;
          const res = await app.inject(options);
          expectContractAnswer(res, `${method} ${url}`);
        },
      ),
      { numRuns: NUM_RUNS },
    );

    const health = await app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const session = await login(app, survivor, { remoteAddress: nextIp(), mode: 'cookie' });
    expect((await me(app, session.accessToken)).statusCode).toBe(200);
    const someoneNew = await registerUser(app);
    await login(app, someoneNew, { remoteAddress: nextIp() });
  });
});
