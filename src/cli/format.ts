/** Output for people: aligned tables, times as ISO text, and durations in words. */

/** Columns padded to their widest cell, two spaces apart; no trailing blanks. */
export function formatTable(headers: readonly string[], cells: readonly (readonly string[])[]): string {
  // One line a row: a newline in a value (a token's claim, say) would start a row of its own making.
  const rows = cells.map((row) => row.map(oneLine));
  const widths = headers.map((header, column) =>
    Math.max(width(header), ...rows.map((row) => width(row[column] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell + ' '.repeat((widths[column] ?? 0) - width(cell)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** Every control and invisible format character as \u{…}, newlines and tabs too (terminalSafe keeps those). */
const oneLine = (text: string) =>
  text.replace(/[\p{Cc}\p{Cf}]/gu, (char) => `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`);

// Code points, so an address with an accent does not shift its column.
const width = (text: string) => [...text].length;

/**
 * Milliseconds since the epoch as ISO 8601 UTC, to the second. A time past what a Date holds (±8.64e15
 * ms, as a claim of a hostile token may be) is named as such rather than thrown on.
 */
export function formatTime(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return `${ms} ms since 1970 (beyond any date)`;
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A length of time in the largest unit that keeps it a whole number people read at a glance. */
export function formatDuration(seconds: number): string {
  const s = Math.floor(Math.abs(seconds));
  if (s < 60) return countOf(s, 'second');
  if (s < 3600) return countOf(Math.floor(s / 60), 'minute');
  if (s < 2 * 86400) return countOf(Math.floor(s / 3600), 'hour');
  return countOf(Math.floor(s / 86400), 'day');
}

/** "in 14 minutes" or "3 hours ago", for a moment relative to now (both in seconds). */
export function formatRelative(atSeconds: number, nowSeconds: number): string {
  const delta = atSeconds - nowSeconds;
  if (delta === 0) return 'just now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
}

/** "1 session", "3 sessions". */
export function countOf(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * A value from a token as JSON text. JSON.stringify recurses, and a token can nest thousands of
 * arrays (JSON.parse takes any depth), so such a value is named instead of crashing the command.
 */
export function formatJSON(value: unknown, indent?: number): string {
  try {
    return JSON.stringify(value, null, indent);
  } catch (error) {
    if (error instanceof RangeError) return '(nested too deeply to show)';
    throw error;
  }
}

/**
 * Text for a terminal: control and invisible format characters (escape sequences, carriage returns,
 * bidi overrides) shown as \u{…} instead of acted on, so a token or a user agent an attacker chose
 * cannot clear the screen, retitle the window or overwrite a line of the verdict. Newlines and tabs
 * are the output's own.
 */
export function terminalSafe(text: string): string {
  return text.replace(
    /(?![\n\t])[\p{Cc}\p{Cf}]/gu,
    (char) => `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`,
  );
}
