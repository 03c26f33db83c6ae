// Bundles the CLI into one ES module (dist/regcred.mjs), the file `npx regcred` and the container
// run. Loading one file instead of ~1,500 modules (client-node alone is most of them) cuts start-up
// from about 1.3 s to about 0.4 s, which matters for CronJobs and one-shot `sync`.
import { readFileSync } from 'node:fs';
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
await build({
  entryPoints: [new URL('../dist/src/cli.js', import.meta.url).pathname],
  outfile: new URL('../dist/regcred.mjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${nodeMajor}`,
  logLevel: 'warning',
  plugins: [userlandPunycode],
  define: { __REGCRED_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require(); give the ES module one.
  banner: { js: "import { createRequire as __regcredRequire } from 'node:module'; const require = __regcredRequire(import.meta.url);" },
});
