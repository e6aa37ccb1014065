/**
 * The web UI's build: web/ → dist/web, hashed files under /assets/, no inline script or style (the
 * server's Content-Security-Policy allows neither). JSX compiles to Preact's automatic runtime.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: false,
  // Vite 8 transforms with Oxc; this is its form of esbuild's jsx: 'automatic', jsxImportSource: 'preact'.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Never inline an asset as a data: URL or a style as a <style>: the policy is 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: false,
  },
});
