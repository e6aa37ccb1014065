/**
 * Tells a broken unique (or primary-key) constraint apart from every other database failure, for both
 * drivers: better-sqlite3 reports SQLite's extended result code, node-postgres the SQLSTATE.
 */

const UNIQUE_VIOLATION_CODES: ReadonlySet<unknown> = new Set([
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
  '23505',
]);

export function isUniqueViolation(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && UNIQUE_VIOLATION_CODES.has(Reflect.get(error, 'code'))
  );
}
