/** Small words for what the server sends as data. */
import { describeRelative } from './jwt.js';

/** "Chrome on Linux" from a User-Agent header; the raw text when nothing is recognised. */
export function describeDevice(userAgent: string | null): string {
  if (userAgent === null || userAgent === '') return 'Unknown device';
  const browsers: [RegExp, string][] = [
    [/Edg\//, 'Edge'],
    [/OPR\//, 'Opera'],
    [/HeadlessChrome\//, 'Headless Chrome'],
    [/Chrome\//, 'Chrome'],
    [/Firefox\//, 'Firefox'],
    [/Version\/[\d.]+.*Safari\//, 'Safari'],
    [/^curl\//, 'curl'],
    [/^node|undici/i, 'Node.js'],
  ];
  const systems: [RegExp, string][] = [
    [/Android/, 'Android'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/Windows/, 'Windows'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/CrOS/, 'ChromeOS'],
    [/Linux/, 'Linux'],
  ];
  const browser = browsers.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = systems.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser === undefined) return userAgent.length > 60 ? `${userAgent.slice(0, 57)}…` : userAgent;
  return system === undefined ? browser : `${browser} on ${system}`;
}

/** "2026-05-01 14:03 (3 minutes ago)". */
export function describeTime(iso: string, nowMs: number = Date.now()): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const local = new Date(ms).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
  return `${local} (${describeRelative(Math.round((ms - nowMs) / 1000))})`;
}
