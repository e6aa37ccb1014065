/**
 * Who may import whom in the store: the shared SQL code knows no dialect (each dialect supplies its
 * transaction and locking strategy), and the domain sees the store only through its interfaces.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** The module specifiers a TypeScript file imports or re-exports. */
async function importsOf(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms)].map((match) => match[1] ?? '');
}

/** Files that wire one dialect: its driver, its write lock, its durability and migration quirks. */
const DIALECT_FILE = /^(sqlite|postgres)[-.]|^(checkpointer|group-sync)\.ts$/;
/** What only a dialect file may import. */
const DIALECT_ONLY = /^(better-sqlite3|pg)$|^\.\/(sqlite|postgres|checkpointer|group-sync)[-.]/;

describe('store layering', () => {
  it('keeps every dialect out of the shared SQL code', async () => {
    const files = (await readdir(`${SRC}store/sql`)).filter((name) => name.endsWith('.ts'));
    const shared = files.filter((name) => !DIALECT_FILE.test(name));
    expect(shared).toEqual(
      expect.arrayContaining(['sql-store.ts', 'users.ts', 'sessions.ts', 'counters.ts']),
    );
    expect(files).toContain('sqlite-write-lock.ts');
    const offending: string[] = [];
    for (const name of shared) {
      for (const specifier of await importsOf(`${SRC}store/sql/${name}`)) {
        if (DIALECT_ONLY.test(specifier)) offending.push(`${name} imports ${specifier}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('lets the domain see the store only through its interfaces', async () => {
    const files = (await readdir(`${SRC}auth`)).filter((name) => name.endsWith('.ts'));
    const offending: string[] = [];
    for (const name of files) {
      for (const specifier of await importsOf(`${SRC}auth/${name}`)) {
        if (specifier.startsWith('../store/') && specifier !== '../store/types.js') {
          offending.push(`${name} imports ${specifier}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });
});
