/**
 * Once before all tests: build what the packages export (dist/ of the root and of src/jwt, src/verify
 * and src/client), so the tests that import them by name, pack them or run the examples never read a
 * stale copy, and no two test files build at the same time.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  // The same build as npm install's prepare: the package's dist/ and each workspace package's.
  execFileSync(process.execPath, ['scripts/prepare.js'], { cwd: root, stdio: 'pipe' });
}
