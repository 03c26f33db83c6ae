/**
 * The exports of a CommonJS package loaded with `await import()`. Node gives a namespace holding
 * both the named exports and `default` (module.exports); the bundle (hack/bundle.mjs), which puts
 * the package in a chunk loaded on first use, gives only `default`. module.exports works in both.
 */
export function commonJsExports<T extends object>(namespace: T): T {
  const exported = (namespace as { default?: unknown }).default;
  return typeof exported === 'object' && exported !== null ? (exported as T) : namespace;
}
