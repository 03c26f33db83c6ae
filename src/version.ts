import { readFileSync } from 'node:fs';

// Set by the bundler (hack/bundle.mjs); absent when running the compiled modules directly.
declare const __REGCRED_VERSION__: string | undefined;

/** The package version: baked into the bundle, else read from package.json next to dist/. */
export const VERSION: string = (() => {
  if (typeof __REGCRED_VERSION__ === 'string') return __REGCRED_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
