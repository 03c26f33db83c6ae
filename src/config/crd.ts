import { z } from 'zod';
import { stringify } from 'yaml';
import { labelSelector } from './common.js';
import { API_GROUP, MAX_EXTRA_KEYS, QUALIFIED_KEY, clusterOnlyMessage, credentialSpec, type CredentialKind } from './schema.js';
import { knownProviderKeys, providerRegistry } from '../providers/registry.js';

// The CustomResourceDefinitions of ../../shared/spec/API.md §1, generated from the zod schema in
// schema.ts (and each provider's configSchema), so the API server and `regcred validate` check the
// same rules. `z.toJSONSchema` does the bulk of the work; `structural()` then turns its output into a
// Kubernetes *structural* schema, and CEL rules (`x-kubernetes-validations`) cover what zod says in
// refinements. hack/gen-crds.ts writes the result into the Helm chart; test/unit/crd.test.ts checks
// that the files never drift, and test/integration/crd.test.ts that a real API server and zod agree.

export const CRD_VERSION = 'v1alpha1';

// ---------------------------------------------------------------------------------------------
// Status: not part of a user's file, so it lives here rather than in schema.ts. The controller
// writes it (and may parse it) with this schema; the CRD's status schema is generated from it.

/** A standard metav1.Condition, with the API server's own limits. */
export const condition = z.strictObject({
  type: z
    .string()
    .max(316)
    .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime({ offset: true }),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32768),
});
export type Condition = z.infer<typeof condition>;

export const MAX_STATUS_FAILURES = 20;

export const credentialStatus = z.strictObject({
  conditions: z
    .array(condition)
    .meta({
      description: 'Ready: every target holds a valid, unexpired credential. Degraded: the last refresh or some targets failed.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    })
    .optional(),
  provider: z.string().meta({ description: 'The key of the provider in use.' }).optional(),
  expiresAt: z.iso.datetime({ offset: true }).meta({ description: 'When the current credential expires; absent if it never does.' }).optional(),
  lastRefreshTime: z.iso.datetime({ offset: true }).optional(),
  nextRefreshTime: z.iso.datetime({ offset: true }).optional(),
  targets: z
    .strictObject({
      total: z.int().min(0),
      synced: z.int().min(0),
      failed: z.int().min(0),
    })
    .meta({ description: 'Counts of target namespaces.' })
    .optional(),
  targetsSummary: z
    .string()
    .meta({ description: 'targets.synced/targets.total, e.g. "12/12", for the TARGETS printer column.' })
    .optional(),
  failures: z
    .array(
      z.strictObject({
        namespace: z.string(),
        reason: z.string(),
        message: z.string(),
      }),
    )
    .max(MAX_STATUS_FAILURES)
    .meta({ description: `Failed targets, at most ${MAX_STATUS_FAILURES}.` })
    .optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type CredentialStatus = z.infer<typeof credentialStatus>;

// ---------------------------------------------------------------------------------------------
// JSON Schema (as zod emits it for OpenAPI 3.0) -> Kubernetes structural schema.

type Schema = Record<string, unknown>;

/** Keywords a structural schema may carry, as they are. */
const KEPT = new Set([
  'type', 'description', 'title', 'default', 'format', 'nullable', 'enum',
  'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'multipleOf',
  'maxLength', 'minLength', 'pattern',
  'maxItems', 'minItems', 'items',
  'maxProperties', 'minProperties', 'required', 'properties', 'additionalProperties',
]);
/** Annotations (and keywords the API server does not need) that are dropped. */
const DROPPED = new Set(['$schema', '$id', 'id', 'propertyNames', 'examples', 'example', 'readOnly', 'writeOnly', 'deprecated', 'contentEncoding', 'contentMediaType']);
/** Formats the API server knows (others are dropped; the pattern zod emits with them stays). */
const K8S_FORMATS = new Set([
  'bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5',
  'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'duration',
  'datetime', 'date-time', 'int32', 'int64', 'float', 'double',
]);
/** String keywords that may be merged when string alternatives are collapsed. */
const STRING_KEYWORDS = new Set(['type', 'enum', 'const', 'pattern', 'maxLength', 'minLength', 'format', 'description', 'title']);

function isSchema(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** The API server compiles `pattern` with Go's RE2: no lookaround, no back references. */
function assertRe2(pattern: string, path: string): void {
  if (/\(\?<?[=!]|\\[1-9]|\\k</.test(pattern)) {
    throw new Error(`${path}: pattern ${JSON.stringify(pattern)} uses lookaround or back references, which Kubernetes (RE2) cannot compile`);
  }
}

function stringPattern(alt: Schema): string | undefined {
  const values = alt['enum'] ?? (alt['const'] !== undefined ? [alt['const']] : undefined);
  if (Array.isArray(values)) return `^(?:${values.map((v) => escapeRegex(String(v))).join('|')})$`;
  return typeof alt['pattern'] === 'string' ? alt['pattern'] : undefined;
}

/** anyOf of string alternatives -> one `type: string` whose pattern accepts what any alternative does. */
function collapseStrings(alts: Schema[]): Schema {
  if (alts.every((a) => Array.isArray(a['enum']) || a['const'] !== undefined)) {
    return { type: 'string', enum: [...new Set(alts.flatMap(stringValues))] };
  }
  const patterns = alts.map(stringPattern);
  const out: Schema = { type: 'string' };
  if (patterns.every((p) => p !== undefined)) {
    out['pattern'] = patterns.map((p) => `(?:${p})`).join('|');
  }
  // Lengths: the loosest bound of all alternatives (exact when the constrained ones are the widest).
  const max = alts.map((a) => (a['enum'] || a['const'] !== undefined ? Math.max(...stringValues(a).map((v) => v.length)) : a['maxLength']));
  if (max.every((m) => typeof m === 'number')) out['maxLength'] = Math.max(...(max as number[]));
  const min = alts.map((a) => (a['enum'] || a['const'] !== undefined ? Math.min(...stringValues(a).map((v) => v.length)) : (a['minLength'] ?? 0)));
  const minLength = Math.min(...(min as number[]));
  if (minLength > 0) out['minLength'] = minLength;
  const formats = new Set(alts.map((a) => a['format']));
  if (formats.size === 1 && alts[0]!['format'] !== undefined) out['format'] = alts[0]!['format'];
  return out;
}

function stringValues(alt: Schema): string[] {
  const values = (alt['enum'] ?? [alt['const']]) as unknown[];
  return values.map(String);
}

/** anyOf of object alternatives -> one object with every property; required = what all require. */
function mergeObjects(alts: Schema[], path: string): Schema {
  const properties: Schema = {};
  for (const alt of alts) {
    for (const [k, v] of Object.entries((alt['properties'] as Schema | undefined) ?? {})) {
      properties[k] = k in properties ? mergeSchemas(properties[k] as Schema, v as Schema, `${path}.${k}`) : v;
    }
  }
  const required = alts
    .map((a) => (a['required'] as string[] | undefined) ?? [])
    .reduce((acc, r) => acc.filter((k) => r.includes(k)));
  const out: Schema = { type: 'object', properties };
  if (required.length > 0) out['required'] = required;
  return out;
}

function mergeSchemas(a: Schema, b: Schema, path: string): Schema {
  if (JSON.stringify(a) === JSON.stringify(b)) return a;
  if (a['type'] === 'object' && b['type'] === 'object') return mergeObjects([a, b], path);
  if (a['type'] === 'string' && b['type'] === 'string') return collapseStrings([a, b]);
  throw new Error(`${path}: alternatives disagree on this field's type; cannot build a structural schema`);
}

function isNullSchema(s: Schema): boolean {
  return s['type'] === 'null' || (Array.isArray(s['enum']) && s['enum'].length === 1 && s['enum'][0] === null);
}

/** Turns one node (and its children) of zod's OpenAPI 3.0 output into a structural schema node. */
export function structural(input: Schema, path = '<root>'): Schema {
  let node: Schema = { ...input };

  for (const junctor of ['anyOf', 'oneOf'] as const) {
    const alts = node[junctor];
    if (!Array.isArray(alts)) continue;
    delete node[junctor];
    let options = (alts as Schema[]).filter((a) => !isNullSchema(a));
    if (options.length < alts.length) node['nullable'] = true;
    options = options.map((a, i) => structuralShallow(a, `${path}.${junctor}[${i}]`));
    let merged: Schema;
    if (options.length === 1) merged = options[0]!;
    else if (options.every((a) => a['type'] === 'string' && Object.keys(a).every((k) => STRING_KEYWORDS.has(k)))) merged = collapseStrings(options);
    else if (options.every((a) => a['type'] === 'object')) merged = mergeObjects(options, path);
    else throw new Error(`${path}: ${junctor} of ${options.map((a) => a['type'] ?? 'untyped').join(', ')} cannot be expressed as a structural schema`);
    node = { ...merged, ...node };
  }
  if (Array.isArray(node['allOf'])) {
    const parts = node['allOf'] as Schema[];
    delete node['allOf'];
    if (!parts.every((p) => p['type'] === 'object')) throw new Error(`${path}: allOf of non-objects cannot be expressed as a structural schema`);
    const merged = mergeObjects(parts, path);
    merged['required'] = [...new Set(parts.flatMap((p) => (p['required'] as string[] | undefined) ?? []))];
    node = { ...merged, ...node };
  }
  return structuralShallow(node, path);
}

function structuralShallow(input: Schema, path: string): Schema {
  if (input['anyOf'] || input['oneOf'] || input['allOf']) return structural(input, path);
  const out: Schema = {};
  for (const [key, value] of Object.entries(input)) {
    if (KEPT.has(key) || key.startsWith('x-kubernetes-')) out[key] = value;
    else if (key === 'const') out['enum'] = [value];
    else if (!DROPPED.has(key)) throw new Error(`${path}: JSON Schema keyword "${key}" has no structural equivalent`);
  }

  const type = out['type'];
  if (type === undefined) {
    // z.unknown(), z.any(): anything goes (zod still checks it in the controller).
    if (Object.keys(out).some((k) => !['description', 'title', 'default', 'nullable'].includes(k) && !k.startsWith('x-kubernetes-'))) {
      throw new Error(`${path}: constraints without a type`);
    }
    out['x-kubernetes-preserve-unknown-fields'] = true;
    return out;
  }
  if (typeof type !== 'string') throw new Error(`${path}: type must be one type, not ${JSON.stringify(type)}`);

  switch (type) {
    case 'object': {
      const props = out['properties'];
      const extra = out['additionalProperties'];
      if (isSchema(props)) {
        out['properties'] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, structural(v as Schema, `${path}.${k}`)]));
        // strictObject: `additionalProperties: false` is forbidden next to properties; the server prunes
        // unknown fields instead (and rejects them with fieldValidation=Strict, as kubectl sends).
        if (extra === false) delete out['additionalProperties'];
        else if (isSchema(extra)) {
          // looseObject / catchall: keep unknown fields rather than prune them.
          delete out['additionalProperties'];
          out['x-kubernetes-preserve-unknown-fields'] = true;
        }
        if (Array.isArray(out['required'])) out['required'] = [...new Set(out['required'] as string[])];
      } else if (isSchema(extra)) {
        out['additionalProperties'] = structural(extra, `${path}.*`);
      } else {
        delete out['additionalProperties'];
        if (extra === undefined) out['x-kubernetes-preserve-unknown-fields'] = true;
      }
      break;
    }
    case 'array': {
      if (!isSchema(out['items'])) throw new Error(`${path}: array without one items schema (tuples are not structural)`);
      out['items'] = structural(out['items'], `${path}[]`);
      break;
    }
    case 'string': {
      if (typeof out['format'] === 'string') {
        if (out['format'] === 'date-time') delete out['pattern']; // the server checks RFC 3339 itself
        if (!K8S_FORMATS.has(out['format'])) delete out['format'];
      }
      if (typeof out['pattern'] === 'string') assertRe2(out['pattern'], path);
      break;
    }
    case 'integer': {
      if (out['minimum'] === -Number.MAX_SAFE_INTEGER) delete out['minimum'];
      if (out['maximum'] === Number.MAX_SAFE_INTEGER) delete out['maximum'];
      out['format'] ??= 'int64';
      break;
    }
    case 'number':
    case 'boolean':
      break;
    default:
      throw new Error(`${path}: type "${type}" is not allowed in a structural schema`);
  }
  return out;
}

/** `description` and `type` first in every schema node, for people reading the YAML. */
function ordered(node: Schema): Schema {
  const rank = (k: string) => (k === 'description' ? 0 : k === 'type' ? 1 : 2);
  const out: Schema = {};
  for (const [k, v] of Object.entries(node).sort(([a], [b]) => rank(a) - rank(b))) {
    if (k === 'properties' && isSchema(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, ordered(s as Schema)]));
    else if ((k === 'items' || k === 'additionalProperties') && isSchema(v)) out[k] = ordered(v);
    else out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CEL: what zod checks in refinements, the API server checks with x-kubernetes-validations.

interface CelRule {
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
function exactlyOneOfMany(keys: string[], none: string, many: string): CelRule {
  const flags = `[${keys.map((k) => `has(self.${celField(k)})`).join(', ')}].filter(x, x).size()`;
  const found = keys.map((k) => `(has(self.${celField(k)}) ? ${celString(` ${k}`)} : '')`).join(' + ');
  return {
    rule: `${flags} == 1`,
    message: none,
    messageExpression: `${flags} == 0 ? ${celString(none)} : ${celString(many)} + ${found}`,
  };
}

/** "exactly one of these keys" (for a few keys): zod's messages, naming every combination found. */
function exactlyOneOfFew(keys: string[], none: string, many: string, joiner: string): CelRule {
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
const QUALIFIED_KEY_RULE: CelRule = {
  rule: `self.all(k, size(k) <= 317 && k.matches(${celString(QUALIFIED_KEY.source)}))`,
  message: 'keys must be [prefix/]name: the name at most 63 alphanumerics with "-", "_" and "." inside, the prefix a DNS subdomain',
};

const RESERVED_KEYS_RULE: CelRule = {
  rule: "self.all(k, k != 'app.kubernetes.io/managed-by' && !k.startsWith('regcred.dev/'))",
  message: 'keys app.kubernetes.io/managed-by and regcred.dev/* are reserved for regcred',
  messageExpression:
    "'keys app.kubernetes.io/managed-by and regcred.dev/* are reserved for regcred; found ' + " +
    "self.filter(k, k == 'app.kubernetes.io/managed-by' || k.startsWith('regcred.dev/'))[0]",
};

const SELECTOR_RULE: CelRule = {
  rule: 'has(self.matchLabels) || has(self.matchExpressions)',
  message: 'needs matchLabels or matchExpressions (use "all: true" to select every namespace)',
};

const SELECTOR_REQUIREMENT_RULE: CelRule = {
  rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
  message: 'operators In and NotIn need values; Exists and DoesNotExist take none',
  messageExpression: "'operator ' + self.operator + (self.operator in ['In', 'NotIn'] ? ' needs values' : ' takes no values')",
  fieldPath: '.values',
};

function addRule(node: Schema, rule: CelRule): void {
  const rules = (node['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  node['x-kubernetes-validations'] = [...rules, { ...rule }];
}

/** The node at a dotted path of property names (`[]` steps into array items); throws if absent. */
function nodeAt(root: Schema, path: string): Schema {
  let node = root;
  for (const step of path.split('.')) {
    const [name, items] = step.endsWith('[]') ? [step.slice(0, -2), true] : [step, false];
    const next = (node['properties'] as Schema | undefined)?.[name];
    if (!isSchema(next)) throw new Error(`CRD schema has no ${path} (at ${name}); was schema.ts changed?`);
    node = next;
    if (items) {
      if (!isSchema(node['items'])) throw new Error(`CRD schema: ${path} is not an array`);
      node = node['items'];
    }
  }
  return node;
}

function toJson(schema: z.ZodType, path: string): Schema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'any',
    override: (ctx) => {
      // Wherever a LabelSelector appears: the rules of common.ts's refinement.
      if (ctx.zodSchema === (labelSelector as unknown)) {
        addRule(ctx.jsonSchema as Schema, SELECTOR_RULE);
        const req = (ctx.jsonSchema.properties?.['matchExpressions'] as Schema | undefined)?.['items'];
        if (isSchema(req)) addRule(req, SELECTOR_REQUIREMENT_RULE);
      }
    },
  }) as Schema;
  return structural(json, path);
}

/**
 * `spec.provider`: one optional property per provider in the registry, exactly one of them set. In a
 * RegistryCredential, cluster-only providers keep their schema (so the message is clear, not a
 * pruned field) and a rule refuses them.
 */
function providerSchema(kind: CredentialKind): Schema {
  const keys = knownProviderKeys();
  const properties: Schema = {};
  for (const key of keys) {
    properties[key] = toJson(providerRegistry.get(key)!.configSchema, `spec.provider.${key}`);
  }
  const known = keys.join(', ');
  const rules: CelRule[] = [
    exactlyOneOfMany(
      keys,
      // A key that is no provider is pruned before this rule runs (or rejected as an unknown field
      // with fieldValidation=Strict), so say so.
      `exactly one provider key is required (one of: ${known}); keys that are not providers are dropped`,
      'exactly one provider key is allowed, found:',
    ),
  ];
  if (kind === 'RegistryCredential') {
    for (const key of keys) {
      const reason = providerRegistry.get(key)!.clusterOnly;
      if (reason) rules.push({ rule: `!has(self.${key})`, message: clusterOnlyMessage(key, reason) });
    }
  }
  return {
    type: 'object',
    description: `The credential source: exactly one key, one of: ${known}.`,
    properties,
    'x-kubernetes-validations': rules,
  };
}

function specSchema(kind: CredentialKind): Schema {
  const spec = toJson(credentialSpec, 'spec');
  spec['description'] = 'The desired state: where the credential comes from and where it is written.';
  (spec['properties'] as Schema)['provider'] = providerSchema(kind);

  const target = nodeAt(spec, 'target');
  target['description'] = 'The Secret to write, and where.';
  addRule(nodeAt(spec, 'target.labels'), RESERVED_KEYS_RULE);
  addRule(nodeAt(spec, 'target.annotations'), RESERVED_KEYS_RULE);
  addRule(nodeAt(spec, 'target.labels'), QUALIFIED_KEY_RULE);
  addRule(nodeAt(spec, 'target.annotations'), QUALIFIED_KEY_RULE);
  // Bounds that keep the rules' estimated CEL cost within the API server's budget (and schema.ts says the same).
  nodeAt(spec, 'target.labels')['maxProperties'] = MAX_EXTRA_KEYS;
  nodeAt(spec, 'target.annotations')['maxProperties'] = MAX_EXTRA_KEYS;
  nodeAt(spec, 'target.labels')['description'] = 'Extra labels on the written Secret.';
  nodeAt(spec, 'target.annotations')['description'] = 'Extra annotations on the written Secret.';
  nodeAt(spec, 'target.serviceAccounts')['description'] =
    'Service accounts whose imagePullSecrets get the Secret; ["*"] = every one, [] = none.';
  nodeAt(spec, 'target.adopt')['description'] = 'Take over an existing pull Secret (kubernetes.io/dockerconfigjson or dockercfg) of that name that no other credential owns; other types are never replaced.';
  nodeAt(spec, 'target.secretName')['description'] = 'The name of the written Secret (a DNS-1123 subdomain).';
  nodeAt(spec, 'refresh.renewBefore')['description'] = "How long before expiry to renew; default: a third of the credential's lifetime.";
  nodeAt(spec, 'refresh.interval')['description'] = 'For credentials that never expire: how often to re-read the source.';
  nodeAt(spec, 'cleanupPolicy')['description'] = 'What happens to written Secrets and service-account references when this object is deleted.';

  const namespaces = nodeAt(spec, 'target.namespaces');
  namespaces['description'] = 'The namespaces to write into: exactly one of names, selector, all; plus an optional exclude list.';
  addRule(
    namespaces,
    exactlyOneOfFew(['names', 'selector', 'all'], 'needs exactly one of names, selector, all', 'takes exactly one of names, selector, all; found ', ' and '),
  );
  // The selector's own rules came with it (see toJson).
  const selectorRules = (nodeAt(spec, 'target.namespaces.selector')['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  const requirementRules = (nodeAt(spec, 'target.namespaces.selector.matchExpressions[]')['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  if (selectorRules.length === 0 || requirementRules.length === 0) throw new Error('CRD schema: the label selector rules were not applied');

  if (kind === 'ClusterRegistryCredential') {
    target['required'] = [...new Set([...((target['required'] as string[] | undefined) ?? []), 'namespaces'])];
  } else {
    // A RegistryCredential writes into its own namespace only.
    delete (target['properties'] as Schema)['namespaces'];
  }
  return spec;
}

function statusSchema(): Schema {
  const status = toJson(credentialStatus, 'status');
  status['description'] = 'The observed state, written by the controller.';
  return status;
}

interface KindNames {
  kind: CredentialKind;
  plural: string;
  singular: string;
  shortName: string;
  scope: 'Cluster' | 'Namespaced';
}

export const CRD_KINDS: readonly KindNames[] = [
  { kind: 'ClusterRegistryCredential', plural: 'clusterregistrycredentials', singular: 'clusterregistrycredential', shortName: 'crc', scope: 'Cluster' },
  { kind: 'RegistryCredential', plural: 'registrycredentials', singular: 'registrycredential', shortName: 'rc', scope: 'Namespaced' },
];

const PRINTER_COLUMNS = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Provider', type: 'string', jsonPath: '.status.provider' },
  // Not `type: date`: the API server renders a date column as the time *since* it, so a credential
  // that expires in 5 hours shows "<invalid>" and one that expired 5 hours ago shows "5h". As a string
  // the column shows the RFC 3339 instant itself.
  { name: 'Expires', type: 'string', description: 'When the current credential expires', jsonPath: '.status.expiresAt' },
  { name: 'Targets', type: 'string', description: 'Synced/total target namespaces', jsonPath: '.status.targetsSummary' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

function buildCrd(names: KindNames): Record<string, unknown> {
  const description =
    names.kind === 'ClusterRegistryCredential'
      ? 'Keeps an image pull Secret filled with fresh registry credentials in the namespaces it selects.'
      : 'Keeps an image pull Secret filled with fresh registry credentials in its own namespace.';
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind: names.kind,
        listKind: `${names.kind}List`,
        plural: names.plural,
        singular: names.singular,
        shortNames: [names.shortName],
        categories: ['regcred'],
      },
      scope: names.scope,
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS,
          schema: {
            openAPIV3Schema: ordered({
              type: 'object',
              description,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(names.kind),
                status: statusSchema(),
              },
              required: ['spec'],
            }),
          },
        },
      ],
    },
  };
}

/** The two CustomResourceDefinitions: ClusterRegistryCredential, then RegistryCredential. */
export function buildCrds(): Record<string, unknown>[] {
  return CRD_KINDS.map(buildCrd);
}

const HEADER = '# Generated by hack/gen-crds.ts from src/config/schema.ts and the provider registry. Do not edit.\n';

/** One CRD as a YAML document, as the chart's files hold it. */
export function crdDocument(crd: object): string {
  return HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Both CRDs as one multi-document YAML stream. */
export function crdYaml(): string {
  return buildCrds()
    .map((crd) => `---\n${crdDocument(crd)}`)
    .join('');
}

/** The chart's CRD files: `<group>_<plural>.yaml` and their contents. */
export function crdFiles(): { name: string; content: string }[] {
  return buildCrds().map((crd) => {
    const name = (crd['metadata'] as { name: string }).name; // <plural>.<group>
    const [plural, ...group] = name.split('.');
    return { name: `${group.join('.')}_${plural}.yaml`, content: crdDocument(crd) };
  });
}
