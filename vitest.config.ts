import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: [
            ...configDefaults.exclude,
            'test/package/**',
            'test/bench/server.test.ts',
            'test/bench/store.test.ts',
          ],
        },
      },
      {
        // The HTTP contract again, each app on a fresh PostgreSQL schema (test/support/postgres.ts says
        // whether that is the machine's server or PGlite): the same requests, the same answers.
        extends: true,
        test: {
          name: 'postgres',
          include: [
            'test/server/contract.test.ts',
            'test/server/attacks.test.ts',
            'test/server/cors.test.ts',
            'test/server/smoke.test.ts',
          ],
          env: { LATCHKEY_TEST_STORE: 'postgres' },
        },
      },
      {
        // Packing and installing tarballs (a native build among them) takes a core for minutes: it runs
        // after the rest, so it cannot slow the tests that time what must happen within a second.
        extends: true,
        test: { name: 'packages', include: ['test/package/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
      {
        // The server benchmark's smoke run keeps both cores busy for about 20 s: last, for the same reason.
        extends: true,
        test: { name: 'bench-server', include: ['test/bench/server.test.ts'], sequence: { groupOrder: 2 } },
      },
      {
        // The store benchmark's quick run: four servers (two of them clusters) and PostgreSQL busy for
        // about a minute, so after everything else too.
        extends: true,
        test: { name: 'bench-store', include: ['test/bench/store.test.ts'], sequence: { groupOrder: 3 } },
      },
    ],
  },
});
