// Unit tests for src/crdgen/: the CRDs generated from the zod schema, the chart's copies of
// them, and the JSON Schema -> structural schema conversion.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseAllDocuments } from 'yaml';
import { credentialStatus } from '../../src/config/status-schema.js';
import { buildCrds, crdFiles, crdYaml } from '../../src/crdgen/crd.js';
import { structural } from '../../src/crdgen/structural.js';
import { targetSpec } from '../../src/config/schema.js';
import { knownProviderKeys, providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDefinition } from '../../src/providers/types.js';

type Schema = Record<string, unknown>;

const CRD_DIR = fileURLToPath(new URL('../../../charts/regcred/crds/', import.meta.url));
const REGENERATE = 'run `npx tsc -p . && node dist/hack/gen-crds.js` and commit the result';

function version(crd: Schema): Schema {
  return ((crd['spec'] as Schema)['versions'] as Schema[])[0]!;
}

function rootSchema(crd: Schema): Schema {
  return (version(crd)['schema'] as Schema)['openAPIV3Schema'] as Schema;
}

function at(schema: Schema, path: string): Schema {
  let node = schema;
  for (const step of path.split('.')) {
    const next = step === '[]' ? node['items'] : (node['properties'] as Schema | undefined)?.[step];
    assert.ok(next && typeof next === 'object', `no ${path} (at ${step})`);
    node = next as Schema;
  }
  return node;
}

function crdOf(kind: string): Schema {
  const crd = buildCrds().find((c) => ((c['spec'] as Schema)['names'] as Schema)['kind'] === kind);
  assert.ok(crd, kind);
  return crd;
}

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
/** Keywords a structural schema must not carry (or that Kubernetes rejects in a CRD). */
const FORBIDDEN = ['$schema', '$ref', '$defs', 'definitions', 'propertyNames', 'patternProperties', 'dependencies', 'additionalItems', 'prefixItems', 'const', 'anyOf', 'oneOf', 'allOf', 'not', 'if', 'then', 'else', 'uniqueItems', 'id'];

/** Every problem that makes `node` (and its children) non-structural, with its path. */
function structuralProblems(node: Schema, path: string, problems: string[] = []): string[] {
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
  if (node['type'] === undefined) {
    if (!preserve) problems.push(`${path}: no type`);
  } else if (typeof node['type'] !== 'string' || !TYPES.has(node['type'])) {
    problems.push(`${path}: type ${JSON.stringify(node['type'])}`);
  }
  for (const key of FORBIDDEN) if (key in node) problems.push(`${path}: has ${key}`);
  if (node['additionalProperties'] === false) problems.push(`${path}: additionalProperties: false`);
  if (node['properties'] && node['additionalProperties'] !== undefined) problems.push(`${path}: properties and additionalProperties`);
  if (node['required'] !== undefined) {
    const props = Object.keys((node['properties'] as Schema | undefined) ?? {});
    for (const r of node['required'] as string[]) if (!props.includes(r)) problems.push(`${path}: requires unknown ${r}`);
  }
  if (node['type'] === 'array' && typeof node['items'] !== 'object') problems.push(`${path}: array without items`);
  if (typeof node['pattern'] === 'string') {
    // Kubernetes compiles patterns with Go's RE2: no lookaround, no back references.
    if (/\(\?<?[=!]|\\[1-9]/.test(node['pattern'])) problems.push(`${path}: pattern not RE2`);
    assert.doesNotThrow(() => new RegExp(node['pattern'] as string), `${path}: pattern`);
  }
  for (const [k, v] of Object.entries((node['properties'] as Schema | undefined) ?? {})) structuralProblems(v as Schema, `${path}.${k}`, problems);
  if (typeof node['items'] === 'object') structuralProblems(node['items'] as Schema, `${path}[]`, problems);
  if (typeof node['additionalProperties'] === 'object') structuralProblems(node['additionalProperties'] as Schema, `${path}.*`, problems);
  return problems;
}

describe('the chart’s CRD files', () => {
  test('equal buildCrds() output, byte for byte', () => {
    const files = crdFiles();
    assert.deepEqual(
      files.map((f) => f.name),
      ['regcred.dev_clusterregistrycredentials.yaml', 'regcred.dev_registrycredentials.yaml'],
    );
    const crds = buildCrds();
    files.forEach((file, i) => {
      let onDisk: string;
      try {
        onDisk = readFileSync(`${CRD_DIR}${file.name}`, 'utf8');
      } catch {
        assert.fail(`charts/regcred/crds/${file.name} is missing: ${REGENERATE}`);
      }
      const docs = parseAllDocuments(onDisk);
      assert.equal(docs.length, 1, file.name);
      assert.deepEqual(docs[0]!.toJS(), crds[i], `charts/regcred/crds/${file.name} is out of date: ${REGENERATE}`);
      assert.equal(onDisk, file.content, `charts/regcred/crds/${file.name} is out of date: ${REGENERATE}`);
    });
  });

  test('the folder holds no other CRD', () => {
    const names = readdirSync(CRD_DIR).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'));
    assert.deepEqual(names.sort(), crdFiles().map((f) => f.name).sort());
  });

  test('crdYaml() is both CRDs as one multi-document stream', () => {
    const docs = parseAllDocuments(crdYaml());
    assert.deepEqual(
      docs.map((d) => d.toJS()),
      buildCrds(),
    );
  });
});

describe('buildCrds', () => {
  test('names, scope, version, categories, subresources and printer columns', () => {
    const expected = [
      ['ClusterRegistryCredential', 'clusterregistrycredentials', 'crc', 'Cluster'],
      ['RegistryCredential', 'registrycredentials', 'rc', 'Namespaced'],
    ];
    buildCrds().forEach((crd, i) => {
      const [kind, plural, short, scope] = expected[i]!;
      assert.equal(crd['apiVersion'], 'apiextensions.k8s.io/v1');
      assert.equal(crd['kind'], 'CustomResourceDefinition');
      assert.equal((crd['metadata'] as Schema)['name'], `${plural}.regcred.dev`);
      const spec = crd['spec'] as Schema;
      assert.equal(spec['group'], 'regcred.dev');
      assert.equal(spec['scope'], scope);
      assert.deepEqual(spec['names'], {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind!.toLowerCase(),
        shortNames: [short],
        categories: ['regcred'],
      });
      const v = version(crd);
      assert.equal(v['name'], 'v1alpha1');
      assert.equal(v['served'], true);
      assert.equal(v['storage'], true);
      assert.deepEqual(v['subresources'], { status: {} });
      const columns = (v['additionalPrinterColumns'] as Schema[]).map((c) => [String(c['name']).toUpperCase(), c['type'], c['jsonPath']]);
      assert.deepEqual(columns, [
        ['READY', 'string', '.status.conditions[?(@.type=="Ready")].status'],
        ['PROVIDER', 'string', '.status.provider'],
        ['EXPIRES', 'string', '.status.expiresAt'], // see PRINTER_COLUMNS in src/crdgen/crd.ts for why not `date`
        ['TARGETS', 'string', '.status.targetsSummary'],
        ['AGE', 'date', '.metadata.creationTimestamp'],
      ]);
    });
  });

  test('the schemas are structural', () => {
    for (const crd of buildCrds()) {
      const root = rootSchema(crd);
      assert.deepEqual(structuralProblems(root, 'openAPIV3Schema'), []);
      assert.deepEqual(root['required'], ['spec']);
      assert.deepEqual(at(root, 'metadata'), { type: 'object' }, 'metadata: nothing but its type');
    }
  });

  test('every provider in the registry is an optional property of spec.provider, with its own schema', () => {
    const keys = knownProviderKeys();
    assert.ok(keys.length > 0);
    for (const crd of buildCrds()) {
      const provider = at(rootSchema(crd), 'spec.provider');
      assert.equal(provider['type'], 'object');
      assert.deepEqual(Object.keys(provider['properties'] as Schema).sort(), keys);
      assert.equal(provider['required'], undefined);
      for (const key of keys) {
        const expected = structural(
          z.toJSONSchema(providerRegistry.get(key)!.configSchema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }) as Schema,
        );
        assert.deepEqual(at(provider, key), JSON.parse(JSON.stringify(expected)), key);
      }
      const rules = provider['x-kubernetes-validations'] as { rule: string }[];
      for (const key of keys) assert.ok(rules[0]!.rule.includes(`has(self.${key})`), key);
      // Then, in the namespaced kind only, one rule per cluster-only provider (exec).
      const clusterOnly = keys.filter((k) => providerRegistry.get(k)!.clusterOnly);
      const kind = (crd as { spec: { names: { kind: string } } }).spec.names.kind;
      assert.deepEqual(
        rules.slice(1).map((r) => r.rule),
        kind === 'RegistryCredential' ? clusterOnly.map((k) => `!has(self.${k})`) : [],
      );
    }
  });

  test('adding a provider to the registry adds it to the CRDs', () => {
    const registry = providerRegistry as Map<string, ProviderDefinition<unknown>>;
    const fake: ProviderDefinition<unknown> = {
      key: 'zzFake',
      configSchema: z.strictObject({ url: z.string().min(1), mode: z.enum(['a', 'b']).default('a') }),
      create: () => {
        throw new Error('not used');
      },
    };
    registry.set(fake.key, fake);
    try {
      for (const crd of buildCrds()) {
        const provider = at(rootSchema(crd), 'spec.provider');
        assert.deepEqual(at(provider, 'zzFake'), {
          type: 'object',
          properties: { url: { type: 'string', minLength: 1 }, mode: { type: 'string', enum: ['a', 'b'], default: 'a' } },
          required: ['url'],
        });
        const rule = (provider['x-kubernetes-validations'] as { rule: string; messageExpression: string }[])[0]!;
        assert.ok(rule.rule.includes('has(self.zzFake)'));
        assert.match(rule.messageExpression, /zzFake/);
      }
    } finally {
      registry.delete(fake.key);
    }
  });

  test('ClusterRegistryCredential requires target.namespaces; RegistryCredential has none', () => {
    const crc = at(rootSchema(crdOf('ClusterRegistryCredential')), 'spec.target');
    assert.ok((crc['required'] as string[]).includes('namespaces'));
    assert.ok((crc['required'] as string[]).includes('secretName'));
    assert.ok(at(crc, 'namespaces'));
    const rc = at(rootSchema(crdOf('RegistryCredential')), 'spec.target');
    assert.equal((rc['properties'] as Schema)['namespaces'], undefined);
    assert.ok(!(rc['required'] as string[]).includes('namespaces'));
  });

  test('defaults are kept, for the server to apply', () => {
    const spec = at(rootSchema(crdOf('RegistryCredential')), 'spec');
    assert.deepEqual(at(spec, 'target.serviceAccounts')['default'], ['default']);
    assert.equal(at(spec, 'target.adopt')['default'], false);
    assert.deepEqual(at(spec, 'target.labels')['default'], {});
    assert.equal(at(spec, 'cleanupPolicy')['default'], 'Delete');
    assert.deepEqual(at(spec, 'refresh')['default'], { interval: '6h' });
    assert.equal(at(spec, 'refresh.interval')['default'], '6h');
    assert.deepEqual(spec['required'], ['provider', 'target']);
  });

  test('CEL rules where the schema alone cannot say it', () => {
    const spec = at(rootSchema(crdOf('ClusterRegistryCredential')), 'spec');
    const rulesAt = (path: string) => ((at(spec, path)['x-kubernetes-validations'] as { rule: string }[] | undefined) ?? []).map((r) => r.rule);
    assert.equal(rulesAt('target.namespaces').length, 1);
    assert.match(rulesAt('target.namespaces')[0]!, /has\(self\.names\), has\(self\.selector\), has\(self\.all\)/);
    assert.equal(rulesAt('target.namespaces.selector').length, 1);
    assert.match(rulesAt('target.namespaces.selector.matchExpressions.[]')[0]!, /'In', 'NotIn'/);
    for (const map of ['target.labels', 'target.annotations']) {
      assert.match(rulesAt(map)[0]!, /app\.kubernetes\.io\/managed-by.*regcred\.dev\//);
    }
    // No rule without a message.
    const walk = (node: Schema): void => {
      for (const r of (node['x-kubernetes-validations'] as Schema[] | undefined) ?? []) assert.ok(r['message'], JSON.stringify(r));
      for (const v of Object.values((node['properties'] as Schema | undefined) ?? {})) walk(v as Schema);
      if (typeof node['items'] === 'object') walk(node['items'] as Schema);
    };
    walk(spec);
  });

  test('the collapsed serviceAccounts pattern accepts what zod accepts', () => {
    const item = at(rootSchema(crdOf('RegistryCredential')), 'spec.target.serviceAccounts.[]');
    assert.equal(item['type'], 'string');
    const pattern = new RegExp(item['pattern'] as string);
    const zodItem = (targetSpec.shape.serviceAccounts.unwrap() as unknown as z.ZodArray<z.ZodType>).element;
    for (const value of ['*', 'default', 'build-bot', 'a.b', '**', 'Default', '-a', 'a-', '', 'a*', '* ']) {
      const lengthOk = value.length <= (item['maxLength'] as number);
      assert.equal(pattern.test(value) && lengthOk, zodItem.safeParse(value).success, JSON.stringify(value));
    }
  });

  test('status: the shape of API.md §1, plus targetsSummary', () => {
    const status = at(rootSchema(crdOf('ClusterRegistryCredential')), 'status');
    assert.deepEqual(Object.keys(status['properties'] as Schema), [
      'conditions',
      'provider',
      'expiresAt',
      'lastRefreshTime',
      'nextRefreshTime',
      'targets',
      'targetsSummary',
      'failures',
      'observedGeneration',
    ]);
    const conditions = at(status, 'conditions');
    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.deepEqual(Object.keys(at(conditions, '[]')['properties'] as Schema).sort(), [
      'lastTransitionTime',
      'message',
      'observedGeneration',
      'reason',
      'status',
      'type',
    ]);
    assert.deepEqual(at(conditions, '[].status')['enum'], ['True', 'False', 'Unknown']);
    assert.equal(at(conditions, '[].lastTransitionTime')['format'], 'date-time');
    assert.equal(at(status, 'failures')['maxItems'], 20);
    assert.deepEqual(Object.keys(at(status, 'targets')['properties'] as Schema), ['total', 'synced', 'failed']);
    assert.deepEqual(at(status, 'observedGeneration'), { type: 'integer', minimum: 0, format: 'int64' });
    assert.equal(at(status, 'targetsSummary')['type'], 'string');
    assert.ok(credentialStatus.safeParse({ targetsSummary: '12/12', failures: [] }).success);
  });
});

describe('structural()', () => {
  test('drops $schema, propertyNames and additionalProperties: false; const becomes enum', () => {
    const out = structural({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { on: { type: 'boolean', const: true }, m: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'string' } } },
      additionalProperties: false,
    });
    assert.deepEqual(out, {
      type: 'object',
      properties: { on: { type: 'boolean', enum: [true] }, m: { type: 'object', additionalProperties: { type: 'string' } } },
    });
  });

  test('anyOf of strings becomes one string with a combined pattern', () => {
    const out = structural({ anyOf: [{ type: 'string', enum: ['*', 'a.b'] }, { type: 'string', pattern: '^x+$', maxLength: 5 }] });
    assert.deepEqual(out, { type: 'string', pattern: '(?:^(?:\\*|a\\.b)$)|(?:^x+$)', maxLength: 5 });
    const re = new RegExp(out['pattern'] as string);
    assert.ok(re.test('*') && re.test('a.b') && re.test('xx'));
    assert.ok(!re.test('axb') && !re.test('y'));
  });

  test('nullable, objects of a union merged, unknown values kept, integers bounded sensibly', () => {
    assert.deepEqual(structural({ anyOf: [{ type: 'string' }, { type: 'null' }] }), { type: 'string', nullable: true });
    assert.deepEqual(
      structural({
        anyOf: [
          { type: 'object', properties: { a: { type: 'string' }, k: { type: 'string', enum: ['x'] } }, required: ['a', 'k'], additionalProperties: false },
          { type: 'object', properties: { b: { type: 'number' }, k: { type: 'string', enum: ['y'] } }, required: ['b', 'k'], additionalProperties: false },
        ],
      }),
      {
        type: 'object',
        properties: { a: { type: 'string' }, k: { type: 'string', enum: ['x', 'y'] }, b: { type: 'number' } },
        required: ['k'],
      },
    );
    assert.deepEqual(structural({}), { 'x-kubernetes-preserve-unknown-fields': true });
    assert.deepEqual(structural({ type: 'object', additionalProperties: {} }), {
      type: 'object',
      additionalProperties: { 'x-kubernetes-preserve-unknown-fields': true },
    });
    assert.deepEqual(structural({ type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }), {
      type: 'integer',
      format: 'int64',
    });
  });

  test('refuses what Kubernetes cannot take', () => {
    assert.throws(() => structural({ type: 'string', pattern: '^(?!x)' }), /RE2/);
    assert.throws(() => structural({ type: 'array', prefixItems: [{ type: 'string' }] }), /prefixItems|tuples/);
    assert.throws(() => structural({ anyOf: [{ type: 'string' }, { type: 'number' }] }), /cannot be expressed/);
    assert.throws(() => structural({ type: 'object', $ref: '#/x' }), /\$ref/);
  });
});
