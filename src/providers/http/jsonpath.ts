// The JSON path subset of `http`'s `response` fields.

/**
 * The JSON path subset: `$`, then any number of `.name`, `['any name']` and `[index]` steps.
 * Hand-written (see evaluateJsonPath): libraries implement filters and script expressions
 * (jsonpath-plus evaluated them with `vm`, CVE-2024-21534) that a credential reader has no use for,
 * and reading a field needs twenty lines.
 */
export const JSON_PATH = /^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\]|\['[^'\\]*'\])*$/;

export type PathStep = string | number;

/** The steps of a path the schema accepted: `$.a['b c'][0]` → ["a", "b c", 0]. */
export function parseJsonPath(path: string): PathStep[] {
  if (!JSON_PATH.test(path)) throw new Error(`invalid JSON path ${JSON.stringify(path)}`);
  const steps: PathStep[] = [];
  for (const m of path.slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]|\['([^']*)'\]/g)) {
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push(m[3]!);
  }
  return steps;
}

/** The value at `path` in `doc`, or undefined. Own properties only (no `__proto__` or `constructor` tricks). */
export function evaluateJsonPath(doc: unknown, path: string): unknown {
  let node = doc;
  for (const step of parseJsonPath(path)) {
    if (typeof step === 'number') {
      if (!Array.isArray(node) || step >= node.length) return undefined;
      node = node[step];
    } else {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, step)) return undefined;
      node = (node as Record<string, unknown>)[step];
    }
  }
  return node;
}
