// The web UI's build (src/web -> dist/web), served by the gateway at /ui/
// (src/ui/). `npm run build` runs it after tsc; paths are relative to the
// package root, where npm runs its scripts.
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/web',
  base: '/ui/',
  // Preact's automatic JSX runtime through Vite's own transformer (oxc), so no
  // framework plugin is needed.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    // dist/ ships in the npm package and the image: no maps of the source.
    sourcemap: false,
    // The polyfill is an inline script, which the UI's CSP (script-src 'self') refuses.
    modulePreload: { polyfill: false },
    // Everything the page needs is a file under /ui/assets/: nothing inlined
    // as a data: URL that the CSP would have to allow.
    assetsInlineLimit: 0,
    target: 'es2022',
  },
});
