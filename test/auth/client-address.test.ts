import { describe, expect, it } from 'vitest';
import { canonicalAddress, throttleSubject } from '../../src/auth/client-address.js';

describe('canonicalAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    [' 192.0.2.1 ', '192.0.2.1'],
    ['192.0.2.1:8080', '192.0.2.1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::ffff:203.0.113.5', '203.0.113.5'],
    ['::FFFF:cb00:7105', '203.0.113.5'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
  ])('reads %j as %j', (text, expected) => {
    expect(canonicalAddress(text)).toBe(expected);
  });

  it.each(['unknown', 'garbage', '<b>x</b>', '', '127.1', '300.1.1.1', 'example.com:80'])(
    'refuses %j',
    (text) => {
      expect(canonicalAddress(text)).toBeNull();
    },
  );
});

describe('throttleSubject', () => {
  it('counts an IPv4 address as itself and an IPv6 address by its /64', () => {
    expect(throttleSubject('192.0.2.1')).toBe('192.0.2.1');
    expect(throttleSubject('2001:db8:1:2::5')).toBe('2001:db8:1:2::/64');
    expect(throttleSubject('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(throttleSubject('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(throttleSubject('::1')).toBe('0:0:0:0::/64');
    expect(throttleSubject('2001:db8:1:3::5')).not.toBe(throttleSubject('2001:db8:1:2::5'));
  });
});
