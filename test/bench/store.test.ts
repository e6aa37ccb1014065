import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { allVariants, type StoreResult, variantKey } from '../../bench/store-report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run bench:store', () => {
  it('measures every variant and writes them to --json', { timeout: 240_000 }, async () => {
    const directory = await mkdtemp(join(tmpdir(), 'latchkey-bench-store-'));
    try {
      const file = join(directory, 'results.json');
      // Only the shape is checked, never a speed.
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'bench/store.ts', '--quick', '--json', file],
        { cwd: ROOT, timeout: 235_000 },
      );
      expect(stdout).toMatch(/^targets: \d of 2 met/m);
      const { results } = JSON.parse(await readFile(file, 'utf8')) as { results: StoreResult[] };
      expect(results.map(variantKey)).toEqual(allVariants().map(variantKey));
      expect(results).toContainEqual(
        expect.objectContaining({ store: 'postgres', workers: 1, op: 'refresh', impl: 'latchkey' }),
      );
      expect(results).toContainEqual(
        expect.objectContaining({ store: 'postgres', workers: null, op: 'refresh', impl: 'raw' }),
      );
      for (const result of results) {
        expect(Object.keys(result)).toEqual(['store', 'workers', 'op', 'impl', 'perSec', 'p99Ms']);
        expect(['latchkey', 'raw']).toContain(result.impl);
        expect(result.perSec, variantKey(result)).toBeGreaterThan(0);
        expect(result.p99Ms, variantKey(result)).toBeGreaterThan(0);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
