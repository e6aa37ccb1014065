/**
 * Client addresses, as sessions record them and as the per-address limits count them. An address
 * arrives as text (a socket's, or an X-Forwarded-For entry a proxy wrote): one client must never be
 * many addresses because of how it is spelled (`2001:DB8::1` and `2001:db8:0::1`, `::ffff:192.0.2.1`
 * and `192.0.2.1`, a `:port` some proxies append), and an IPv6 client holds a whole /64 (SLAAC,
 * privacy addresses), so the limits count that, not each address in it.
 */
import { isIP } from 'node:net';

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** `::ffff:a.b.c.d` (or its hex spelling `::ffff:xxxx:xxxx`) as `a.b.c.d`; null for any other address. */
function mappedIPv4(address: string): string | null {
  const dotted = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (dotted !== null) return isIP(dotted[1] as string) === 4 ? (dotted[1] as string) : null;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (hex === null) return null;
  const [high, low] = [Number.parseInt(hex[1] as string, 16), Number.parseInt(hex[2] as string, 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/**
 * One spelling per address: IPv4 dotted, IPv6 lower-case and compressed (RFC 5952, as the WHATWG URL
 * parser writes it), IPv4-mapped IPv6 as IPv4, without a port or a zone. Null when `text` is not an
 * address at all (`unknown`, a host name, garbage).
 */
export function canonicalAddress(text: string): string | null {
  let address = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed !== null) address = bracketed[1] as string;
  else if (/^[^:]+:\d{1,5}$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  // A zone (fe80::1%eth0) names the receiving interface, not the client.
  address = address.replace(/%[^%]*$/, '');
  const family = isIP(address);
  if (family === 4) return IPV4.test(address) ? address : null;
  if (family !== 6) return null;
  const compressed = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  return mappedIPv4(compressed) ?? compressed;
}

/** The eight groups of a canonical IPv6 address. */
function groupsOf(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  if (tail === undefined) return left;
  const right = tail === '' ? [] : tail.split(':');
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
}

/**
 * What the per-address limits count for a canonical address: an IPv4 address itself, an IPv6
 * address's /64, since a single client can take any address in it.
 */
export function throttleSubject(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${groupsOf(address).slice(0, 4).join(':')}::/64`;
}
