import { QUALIFIED_KEY } from '../config/schema.js';
import type { Schema } from './structural.js';

// CEL: what zod checks in refinements, the API server checks with x-kubernetes-validations. The
// rule builders and the fixed rules the CRDs carry.

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

const CEL_RESERVED = new Set([
  'true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import',
  'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while',
]);

/** A property name as CEL sees it (Kubernetes' escaping rules). */
function celField(name: string): string {
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  if (!/^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$/.test(name)) throw new Error(`property "${name}" cannot be named in a CEL rule`);
  return name.replace(/__/g, '__underscores__').replace(/\./g, '__dot__').replace(/-/g, '__dash__').replace(/\//g, '__slash__');
}

const celString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

// The API server estimates each CEL expression's worst-case cost and refuses a CRD whose rules or
// messages could be too expensive; `join()` of a computed list counts as unbounded, so the messages
// below are built from constant strings only (even `string(n)` of an int counts as unbounded).

/** "exactly one of these keys" (for many keys): says which keys were found, with the counts zod gives. */
export function exactlyOneOfMany(keys: string[], none: string, many: string): CelRule {
  const flags = `[${keys.map((k) => `has(self.${celField(k)})`).join(', ')}].filter(x, x).size()`;
  const found = keys.map((k) => `(has(self.${celField(k)}) ? ${celString(` ${k}`)} : '')`).join(' + ');
  return {
    rule: `${flags} == 1`,
    message: none,
    messageExpression: `${flags} == 0 ? ${celString(none)} : ${celString(many)} + ${found}`,
  };
}

/** "exactly one of these keys" (for a few keys): zod's messages, naming every combination found. */
export function exactlyOneOfFew(keys: string[], none: string, many: string, joiner: string): CelRule {
  const has = (k: string) => `has(self.${celField(k)})`;
  // Every subset of two or more keys, largest first, as `condition ? message : ...`.
  const subsets: string[][] = [];
  for (let mask = 1; mask < 1 << keys.length; mask++) {
    const subset = keys.filter((_, i) => mask & (1 << i));
    if (subset.length >= 2) subsets.push(subset);
  }
  subsets.sort((a, b) => b.length - a.length);
  const chain = subsets.map((sub) => `${sub.map(has).join(' && ')} ? ${celString(many + sub.join(joiner))} : `).join('');
  return {
    rule: `[${keys.map(has).join(', ')}].filter(x, x).size() == 1`,
    message: none,
    messageExpression: `${chain}${celString(none)}`,
  };
}

/** Keys must be qualified names (schema.ts QUALIFIED_KEY), checked where the API server sees them. */
export const QUALIFIED_KEY_RULE: CelRule = {
  rule: `self.all(k, size(k) <= 317 && k.matches(${celString(QUALIFIED_KEY.source)}))`,
  message: 'keys must be [prefix/]name: the name at most 63 alphanumerics with "-", "_" and "." inside, the prefix a DNS subdomain',
};

export const RESERVED_KEYS_RULE: CelRule = {
  rule: "self.all(k, k != 'app.kubernetes.io/managed-by' && !k.startsWith('regcred.dev/'))",
  message: 'keys app.kubernetes.io/managed-by and regcred.dev/* are reserved for regcred',
  messageExpression:
    "'keys app.kubernetes.io/managed-by and regcred.dev/* are reserved for regcred; found ' + " +
    "self.filter(k, k == 'app.kubernetes.io/managed-by' || k.startsWith('regcred.dev/'))[0]",
};

export const SELECTOR_RULE: CelRule = {
  rule: 'has(self.matchLabels) || has(self.matchExpressions)',
  message: 'needs matchLabels or matchExpressions (use "all: true" to select every namespace)',
};

export const SELECTOR_REQUIREMENT_RULE: CelRule = {
  rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
  message: 'operators In and NotIn need values; Exists and DoesNotExist take none',
  messageExpression: "'operator ' + self.operator + (self.operator in ['In', 'NotIn'] ? ' needs values' : ' takes no values')",
  fieldPath: '.values',
};

export function addRule(node: Schema, rule: CelRule): void {
  const rules = (node['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  node['x-kubernetes-validations'] = [...rules, { ...rule }];
}
