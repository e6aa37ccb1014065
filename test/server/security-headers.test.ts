import { describe, expect, it } from 'vitest';
import { securityHeaders } from '../../src/server/security-headers.js';
import { createTestApp } from '../support/app.js';

describe('security headers', () => {
  it('are Helmet’s, with HSTS and upgrade-insecure-requests only over https', () => {
    const http = securityHeaders({ https: false });
    const https = securityHeaders({ https: true });
    expect(http['strict-transport-security']).toBeUndefined();
    expect(https['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(http['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(https['content-security-policy']).toContain('upgrade-insecure-requests');
    for (const headers of [http, https]) {
      expect(headers['content-security-policy']).toContain("style-src 'self'");
      expect(headers['content-security-policy']).toContain("font-src 'self'");
      expect(headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin',
      });
    }
  });

  it('are on every answer: success, refusal, bad input and not found', async () => {
    const app = await createTestApp();
    try {
      const expected = securityHeaders({ https: false });
      const answers = await Promise.all([
        app.inject({ url: '/healthz' }),
        app.inject({ url: '/api/me' }),
        app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: '{',
          headers: { 'content-type': 'application/json' },
        }),
        app.inject({ url: '/api/nope' }),
      ]);
      expect(answers.map((res) => res.statusCode)).toEqual([200, 401, 400, 404]);
      for (const res of answers) {
        for (const [name, value] of Object.entries(expected)) expect(res.headers[name]).toBe(value);
      }
    } finally {
      await app.close();
    }
  });
});
