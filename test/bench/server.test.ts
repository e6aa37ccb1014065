import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { allVariants, type ServerResult, variantKey } from '../../bench/server-report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run bench:server', () => {
  it('measures every variant and writes them to --json', { timeout: 90_000 }, async () => {
    const directory = await mkdtemp(join(tmpdir(), 'latchkey-bench-server-'));
    try {
      const file = join(directory, 'results.json');
      // The smallest run there is: one round, no warm-up. Only the shape is checked, never a speed.
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/server.ts',
          '--rounds',
          '1',
          '--duration',
          '0.2',
          '--warmup',
          '0',
          '--json',
          file,
        ],
        { cwd: ROOT, timeout: 85_000 },
      );
      expect(stdout).toMatch(/^targets: \d of 4 met/m);
      const { results } = JSON.parse(await readFile(file, 'utf8')) as { results: ServerResult[] };
      expect(results.map(variantKey)).toEqual(allVariants().map(variantKey));
      for (const result of results) {
        expect(Object.keys(result)).toEqual(['name', 'impl', 'perSec', 'p99Ms']);
        expect(result.perSec, variantKey(result)).toBeGreaterThan(0);
        expect(result.p99Ms, variantKey(result)).toBeGreaterThan(0);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
