// Builds the BIF Voilà template's static files (see src/index.js):
// - bif-app.js, an ES module, and its chunks (bif-chunk-*.js; bif-leaflet-more-*.js is loaded
//   only when an app uses one of jupyter-leaflet's rarer classes, see src/leaflet-widgets.js);
// - the page's two style sheets: bif-page-base.css (what the page takes of voila-style.js, then
//   the notebook's style sheet and theme that Voilà would link, see notebookStyle below) and
//   bif-app.css (BIF's app.css, then the widgets' styles); bif-leaflet-more.css comes with the
//   rarer classes.
import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const outdir = process.argv[2] || 'out';

// webpack's "~package/file" in CSS means "from node_modules"
const webpackTilde = {
  name: 'webpack-tilde',
  setup(build) {
    build.onResolve({ filter: /^~/ }, args => ({ path: require.resolve(args.path.slice(1)) }));
  }
};

// jupyter-leaflet's widget modules import its lib/leaflet.js, which loads all 17 Leaflet
// plugins, and Layer.js imports the package's index for one class: both would put all of
// jupyter-leaflet into every page. Its common classes get the plain Leaflet of
// src/leaflet-core.js instead; src/leaflet-more.js loads the plugins with the rarer classes.
const JUPYTER_LEAFLET_LIB = path.dirname(require.resolve('jupyter-leaflet/lib/leaflet.js'));
const slimLeaflet = {
  name: 'slim-leaflet',
  setup(build) {
    const inLib = importer => importer.startsWith(JUPYTER_LEAFLET_LIB + path.sep);
    build.onResolve({ filter: /^\.\.?\/leaflet$/ }, args =>
      inLib(args.importer) ? { path: path.resolve('src/leaflet-core.js') } : undefined);
    build.onResolve({ filter: /^\.\.\/jupyter-leaflet$/ }, args =>
      args.importer === path.join(JUPYTER_LEAFLET_LIB, 'layers', 'Layer.js')
        ? { path: path.join(JUPYTER_LEAFLET_LIB, 'controls', 'Control.js') } // its LeafletControlView
        : undefined);
  }
};

// esbuild puts the style sheets of all chunks into the entry's one CSS file (CSS is not split),
// so the scripts' style sheet imports are left out here and bundled by the CSS build below.
const importedStyles = new Set();
const stylesElsewhere = {
  name: 'styles-elsewhere',
  setup(build) {
    build.onResolve({ filter: /\.css$/ }, async args => {
      if (args.pluginData === 'styles-elsewhere') {
        return undefined;
      }
      const found = await build.resolve(args.path, {
        kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'styles-elsewhere'
      });
      if (found.errors.length) {
        return { errors: found.errors };
      }
      importedStyles.add(found.path);
      return { path: found.path, namespace: 'styles-elsewhere' };
    });
    build.onLoad({ filter: /.*/, namespace: 'styles-elsewhere' }, () => ({ contents: '', loader: 'js' }));
  }
};

// "notebook-style:index.css": a file of the notebook's static folder as Voilà serves it to BIF's
// template (nbconvert's lab template: JupyterLab's notebook style and the light theme). The
// page would link both on their own, next to bif-page-base.css; one style sheet less per first
// visit is one connection less through the proxy while many planners open apps at once
// (bench/README.md, 2026-12-07). The environment's Python finds the folder, so the copy is
// always the installed version's (scripts/setup rebuilds after a Python install).
const PYTHON = process.env.BIF_VENV_PYTHON || new URL('../../../../.venv/bin/python', import.meta.url).pathname;
const FIND_NOTEBOOK_STATIC = `
import os
from voila.paths import collect_static_paths
print(next(d for d in collect_static_paths(["voila", "nbconvert"], "lab") if os.path.isfile(os.path.join(d, "index.css"))))
`;
const notebookStatic = execFileSync(PYTHON, ['-c', FIND_NOTEBOOK_STATIC], { encoding: 'utf8' }).trim();
const notebookStyle = {
  name: 'notebook-style',
  setup(build) {
    build.onResolve({ filter: /^notebook-style:/ }, args => ({ path: path.join(notebookStatic, args.path.slice('notebook-style:'.length)) }));
  }
};

const assets = { '.png': 'dataurl', '.gif': 'dataurl', '.svg': 'dataurl', '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file' };

// Font Awesome's style sheet names each font in five formats, for browsers back to IE 6. Every
// browser BIF supports takes the WOFF2 file (listed before the others); the rest would only be
// copied (EOT, WOFF, TTF) or, worse, put into the style sheet as data (the SVG fonts, 1.8 MB).
// They stay names that are never fetched.
const FONT_AWESOME_WEBFONTS = /[\\/]@fortawesome[\\/]fontawesome-free[\\/]webfonts[\\/].*\.(eot|svg|ttf|woff)$/;
const onlyWoff2 = {
  name: 'only-woff2',
  setup(build) {
    build.onResolve({ filter: /\.(eot|svg|ttf|woff)([?#].*)?$/ }, async args => {
      if (args.pluginData === 'only-woff2') {
        return undefined;
      }
      const found = await build.resolve(args.path.replace(/[?#].*$/, ''), {
        kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'only-woff2'
      });
      return FONT_AWESOME_WEBFONTS.test(found.path) ? { path: args.path, external: true } : undefined;
    });
  }
};

// nothing is written until both builds and the check below have passed: a half-written bundle
// would look up to date to scripts/setup
const scripts = await esbuild.build({
  entryPoints: { 'bif-app': 'src/index.js' },
  write: false,
  bundle: true,
  minify: true,
  format: 'esm', // for import(): the rarer part of jupyter-leaflet is a chunk loaded on demand
  splitting: true,
  chunkNames: 'bif-[name]-[hash]',
  target: 'es2020',
  assetNames: 'bif-[name]-[hash]',
  outdir,
  loader: assets,
  define: { 'process.env.NODE_ENV': '"production"' },
  plugins: [webpackTilde, slimLeaflet, stylesElsewhere],
  logLevel: 'warning',
  legalComments: 'linked',
  metafile: true
});

const styles = await esbuild.build({
  entryPoints: { 'bif-app': 'src/bif-app.css', 'bif-page-base': 'src/bif-page-base.css', 'bif-leaflet-more': 'src/bif-leaflet-more.css' },
  write: false,
  bundle: true,
  minify: true,
  assetNames: 'bif-[name]-[hash]',
  outdir,
  loader: assets,
  plugins: [webpackTilde, onlyWoff2, notebookStyle],
  logLevel: 'warning',
  metafile: true
});

// every style sheet a script imports must be in one of the two
const bundled = new Set(Object.keys(styles.metafile.inputs).map(p => path.resolve(p)));
const missing = [...importedStyles].filter(p => !bundled.has(p));
if (missing.length) {
  console.error('style sheets imported by the scripts but in neither src/bif-app.css nor src/bif-leaflet-more.css:\n  ' +
                missing.join('\n  '));
  process.exit(1);
}

// The chunks bif-app.js imports statically: the page names them (<link rel="modulepreload">, see
// frontend.py) so that the browser fetches them with bif-app.js instead of after it.
const entry = path.join(outdir, 'bif-app.js');
const preload = [];
const visit = file => {
  for (const imp of scripts.metafile.outputs[file].imports) {
    const name = path.basename(imp.path);
    if (imp.kind === 'import-statement' && !preload.includes(name)) {
      preload.push(name);
      visit(imp.path);
    }
  }
};
visit(Object.keys(scripts.metafile.outputs).find(file => path.resolve(file) === path.resolve(entry)));

// the new files replace all of an earlier build's (chunk names change with their content)
fs.mkdirSync(outdir, { recursive: true });
for (const name of fs.readdirSync(outdir)) {
  if (name.startsWith('bif-')) {
    fs.rmSync(path.join(outdir, name));
  }
}
for (const file of [...scripts.outputFiles, ...styles.outputFiles]) {
  fs.mkdirSync(path.dirname(file.path), { recursive: true });
  fs.writeFileSync(file.path, file.contents);
}
fs.writeFileSync(path.join(outdir, 'bif-app.preload.json'), JSON.stringify(preload) + '\n');
