// Builds static/bif-app.js and static/bif-app.css of the BIF Voilà template (see src/index.js).
import * as esbuild from 'esbuild';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const outdir = process.argv[2] || 'out';

// webpack's "~package/file" in CSS means "from node_modules"
const webpackTilde = {
  name: 'webpack-tilde',
  setup(build) {
    build.onResolve({ filter: /^~/ }, args => ({ path: require.resolve(args.path.slice(1)) }));
  }
};

await esbuild.build({
  entryPoints: { 'bif-app': 'src/index.js' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  outdir,
  loader: { '.png': 'dataurl', '.gif': 'dataurl', '.svg': 'dataurl', '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file' },
  define: { 'process.env.NODE_ENV': '"production"' },
  plugins: [webpackTilde],
  logLevel: 'warning',
  legalComments: 'linked'
});
