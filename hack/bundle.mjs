// Bundles the CLI into an ES module, dist/regcred.mjs (the file `npx regcred` and the container
// run), and the chunks it imports, dist/chunks/. What every command needs is in regcred.mjs and
// loads at once: a few files instead of ~1,500 modules keeps start-up short for CronJobs and
// one-shot `sync`. What only some runs need (the AWS SDK, google-auth-library, @azure/identity,
// the webhook's certificates) is in chunks loaded on first use: V8 keeps the source of every module
// it loads, so a controller that never calls Azure does not hold Azure's code.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// The syntax level of the Node.js release regcred ships with (hack/node-release.env).
const nodeMajor = /^NODE_VERSION=(\d+)\./m.exec(readFileSync(new URL('./node-release.env', import.meta.url), 'utf8'))?.[1];
if (!nodeMajor) throw new Error('hack/node-release.env: no NODE_VERSION');

// whatwg-url and tr46 (node-fetch 2's, client-node's HTTP client) require Node's built-in `punycode`,
// deprecated (DEP0040): every run would print the warning. The punycode package has the same API.
const userlandPunycode = {
  name: 'userland-punycode',
  setup(b) {
    const path = createRequire(import.meta.url).resolve('punycode/');
    b.onResolve({ filter: /^(node:)?punycode$/ }, () => ({ path }));
  },
};
// zod re-exports all its ~50 message locales (`z.locales`); regcred speaks English only (the
// default locale zod configures for itself). Keeping the rest out of the bundle saves about 300 KB
// of code the controller would parse at every start.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'zod-english-only', pluginData: args.resolveDir } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({ contents: "export { default as en } from '../locales/en.js';", resolveDir: args.pluginData }));
  },
};
// prom-client requires @opentelemetry/api for one thing: trace ids on exemplars of its CPU metric,
// which regcred does not enable (it has no tracing). The API's 40 KB would load at every start.
const noOpenTelemetry = {
  name: 'no-opentelemetry',
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\/api$/ }, () => ({ path: 'opentelemetry-api', namespace: 'no-opentelemetry' }));
    b.onLoad({ filter: /.*/, namespace: 'no-opentelemetry' }, () => ({
      contents: 'module.exports = { trace: { getSpan: () => undefined }, context: { active: () => undefined } };',
      loader: 'js',
    }));
  },
};
const outdir = new URL('../dist/', import.meta.url).pathname;
rmSync(`${outdir}chunks`, { recursive: true, force: true });
const result = await build({
  entryPoints: { regcred: new URL('../dist/src/cli.js', import.meta.url).pathname },
  outdir,
  absWorkingDir: new URL('..', import.meta.url).pathname, // metafile paths relative to the repository
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${nodeMajor}`,
  logLevel: 'warning',
  metafile: true,
  // Whitespace and comments out, names kept (stack traces stay readable): V8 holds each loaded
  // module's source for as long as the process lives.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [userlandPunycode, zodEnglishOnly, noOpenTelemetry],
  define: { __REGCRED_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require(); give the ES module one.
  banner: { js: "import { createRequire as __regcredRequire } from 'node:module'; const require = __regcredRequire(import.meta.url);" },
});

// One character outside ASCII makes V8 store a module's whole source as UTF-16, twice the memory.
// esbuild escapes strings but cannot escape a regular expression literal: write \u00b5, not µ.
const entry = 'dist/regcred.mjs';
const loadedAtStart = new Set();
for (const queue = [entry]; queue.length > 0; ) {
  const file = queue.pop();
  if (loadedAtStart.has(file)) continue;
  loadedAtStart.add(file);
  for (const i of result.metafile.outputs[file]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) queue.push(i.path);
}
for (const file of loadedAtStart) {
  const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
  const at = text.search(/[^\x00-\x7f]/);
  if (at >= 0) throw new Error(`${file}: a character outside ASCII (${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}); escape it in the source`);
}
if (process.env['REGCRED_BUNDLE_METAFILE']) writeFileSync(process.env['REGCRED_BUNDLE_METAFILE'], JSON.stringify(result.metafile));
