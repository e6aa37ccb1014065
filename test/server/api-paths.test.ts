import { describe, expect, it } from 'vitest';
import { isAPIPath, pathSegments } from '../../src/server/api-paths.js';

describe('isAPIPath', () => {
  it.each([
    '/auth',
    '/auth/login',
    '/auth?x=1',
    '/api/me#top',
    '/.well-known/jwks.json',
    '/%61uth/login',
    'http://localhost:3000/api/me',
    'HTTPS://example.com/.well-known/jwks.json?x',
  ])('counts %j as the API', (url) => {
    expect(isAPIPath(url)).toBe(true);
  });

  it.each([
    '/',
    '/authx',
    '/login',
    '/assets/auth/x.js',
    '/%ZZ/auth',
    'http://example.com/login',
    '//auth/login',
  ])('counts %j as the web UI', (url) => {
    expect(isAPIPath(url)).toBe(false);
  });
});

describe('pathSegments', () => {
  it('reads a target as the router does: no scheme and host, query or fragment; escapes decoded', () => {
    expect(pathSegments('http://h:1/auth/lo%67in?x=1#y')).toEqual(['auth', 'login']);
    expect(pathSegments('/auth/sessions/a%2Fb')).toEqual(['auth', 'sessions', 'a/b']);
    expect(pathSegments('/bad/%E0%A4%A')).toEqual(['bad', '%E0%A4%A']);
    expect(pathSegments('/')).toEqual(['']);
  });
});
