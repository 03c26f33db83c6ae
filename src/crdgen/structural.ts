// JSON Schema (as zod emits it for OpenAPI 3.0) -> Kubernetes structural schema: one type per node,
// alternatives (anyOf/oneOf/allOf) merged into one node, keywords the API server does not take
// dropped or refused, with the path of the node that cannot be expressed.

export type Schema = Record<string, unknown>;

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

export function isSchema(v: unknown): v is Schema {
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
export function ordered(node: Schema): Schema {
  const rank = (k: string) => (k === 'description' ? 0 : k === 'type' ? 1 : 2);
  const out: Schema = {};
  for (const [k, v] of Object.entries(node).sort(([a], [b]) => rank(a) - rank(b))) {
    if (k === 'properties' && isSchema(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, ordered(s as Schema)]));
    else if ((k === 'items' || k === 'additionalProperties') && isSchema(v)) out[k] = ordered(v);
    else out[k] = v;
  }
  return out;
}
