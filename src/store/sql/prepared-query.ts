/**
 * Queries built and compiled once, then run with new values. Kysely builds a tree of operation nodes
 * and compiles it to SQL on every call, which costs more than SQLite takes to run a short query: the
 * queries of every request (the user behind /api/me, the refresh token and session of a refresh) are
 * compiled once with a marker for each value, and a run only puts the values where the markers were.
 */
import type { Compilable, CompiledQuery } from 'kysely';

const MARKER = '\u0000latchkey-parameter:';

export type PreparedQuery<Name extends string, Row> = (
  values: Readonly<Record<Name, unknown>>,
) => CompiledQuery<Row>;

/**
 * `build` gets a marker for each name, typed `never` so that it stands in for a value of any column's
 * type (a marker is a string only while the query compiles; a run puts the real value there).
 */
export function prepareQuery<Name extends string, Row>(
  names: readonly Name[],
  build: (markers: Readonly<Record<Name, never>>) => Compilable<Row>,
): PreparedQuery<Name, Row> {
  const markers = Object.fromEntries(names.map((name) => [name, `${MARKER}${name}`])) as Record<Name, never>;
  const compiled = build(markers).compile();
  // For each parameter of the SQL, the name whose value goes there, or null for a value of the query.
  const slots = compiled.parameters.map((value) =>
    typeof value === 'string' && value.startsWith(MARKER) ? (value.slice(MARKER.length) as Name) : null,
  );
  for (const name of names) {
    if (!slots.includes(name)) throw new TypeError(`prepared query does not use its parameter ${name}`);
  }
  return (values) => ({
    ...compiled,
    parameters: slots.map((slot, index) => (slot === null ? compiled.parameters[index] : values[slot])),
  });
}
