// Node.js deprecation warnings that libraries inside the bundle trigger and that nobody running
// regcred can act on. Node prints DEP0169 (`url.parse()`) only for callers outside node_modules;
// in dist/regcred.mjs every library is such a caller, and node-fetch 2 (client-node's HTTP client)
// parses each request's URL with `url.parse()`, after normalising it with the WHATWG parser. Every
// other warning is printed as before. (The built-in punycode's DEP0040 is avoided instead:
// hack/bundle.mjs bundles the punycode package in its place.)
const SILENCED_CODES = new Set(['DEP0169']);

type EmitWarning = (warning: string | Error, ...rest: unknown[]) => void;

function codeOf(warning: string | Error, rest: unknown[]): unknown {
  const [typeOrOptions, code] = rest;
  if (typeof typeOrOptions === 'object' && typeOrOptions !== null) return (typeOrOptions as { code?: unknown }).code;
  if (code !== undefined) return code;
  return typeof warning === 'object' ? (warning as { code?: unknown }).code : undefined;
}

/** Drops the warnings above from `process.emitWarning`; returns a function that restores it. */
export function silenceBundledLibraryDeprecations(): () => void {
  const original = process.emitWarning;
  const emit = original.bind(process) as EmitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (SILENCED_CODES.has(codeOf(warning, rest) as string)) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
  return () => {
    process.emitWarning = original;
  };
}
