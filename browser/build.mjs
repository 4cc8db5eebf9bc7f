// Builds dist/ and the copy the Python package ships. Deterministic: the same lock file gives
// the same bytes (no timestamps, no absolute paths; .ci/run checks it with build.sh --check).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url)));
const lock = JSON.parse(readFileSync(new URL('./package-lock.json', import.meta.url)));
const bundled = Object.keys(pkg.dependencies)
  .map((name) => `${name}@${lock.packages[`node_modules/${name}`].version}`)
  .join(', ');

await build({
  entryPoints: ['src/index.js'],
  outfile: process.argv[2] || 'dist/saler-tracing.min.js',
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'SalerTracing',
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'none',
  charset: 'utf8',
  banner: {
    js: `/* saler-tracing browser ${pkg.version} (Apache-2.0). Bundles ${bundled}: Apache-2.0, see https://www.apache.org/licenses/LICENSE-2.0 */`,
  },
  logLevel: 'warning',
});
