// npm runs `prepare` on every local install, including `npm install --omit=dev` for a server that
// only runs: there TypeScript and Vite are absent, the built toolkit (for other services) is not
// needed, and the server answers / with a page that says how to build the web UI.
// It builds the package's own exports (dist/) and each workspace package (src/jwt, src/verify,
// src/client), which pack into tarballs of their own; then the web UI (web/ → dist/web).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

/** The path of a package's file, or null when the package is not installed. */
function resolveOrNull(specifier) {
  try {
    return require.resolve(specifier);
  } catch {
    return null;
  }
}

/** A packed tarball (npm pack) ships dist/ and dist/web built: without the tools they stay as they are. */
const built = (path) => existsSync(join(root, path));

const tsc = resolveOrNull('typescript/bin/tsc');
if (tsc === null) {
  if (!built('dist/server/main.js')) {
    console.log(
      'prepare: TypeScript is not installed, so dist/ is not built: npm install (with dev dependencies) builds it',
    );
  }
} else {
  for (const project of [
    'tsconfig.build.json',
    ...['jwt', 'verify', 'client'].map((p) => `src/${p}/tsconfig.build.json`),
  ]) {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  }
}

// Vite's exports do not include its command; it sits next to its package.json.
const vitePackage = resolveOrNull('vite/package.json');
const vite = vitePackage === null ? null : join(dirname(vitePackage), 'bin', 'vite.js');
if (vite === null) {
  if (!built('dist/web/index.html')) {
    console.log(
      'prepare: Vite is not installed, so the web UI (dist/web) is not built; / says how to build it',
    );
  }
} else {
  execFileSync(process.execPath, [vite, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
    cwd: root,
    stdio: 'inherit',
    // Always the production build, whatever NODE_ENV the caller has (vitest sets test): the same
    // bundle whether npm install, npm run build or the test suite built it, so a running server's
    // asset names stay valid.
    env: { ...process.env, NODE_ENV: 'production' },
  });
}
