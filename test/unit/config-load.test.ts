// Unit tests for src/config/load.ts and src/config/schema.ts: parsing multi-document YAML into
// credential objects, error locations and messages, defaults, and per-kind rules.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatConfigError, formatPath, loadConfigFiles, parseConfigText, type ConfigError } from '../../src/config/load.js';
import { credentialObject, objectRef } from '../../src/config/schema.js';
import { knownProviderKeys } from '../../src/providers/registry.js';

const CLUSTER = `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: demo}
spec:
  provider:
    static: {secretRef: {name: demo-source}}
  target:
    secretName: demo-pull
    namespaces: {all: true}
`;

const NAMESPACED = `apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: team, namespace: team-a}
spec:
  provider:
    static: {secretRef: {name: team-source}}
  target:
    secretName: team-pull
`;

/** A ClusterRegistryCredential whose spec.provider / spec.target are the given flow mappings. */
function cluster(opts: { name?: string; provider?: string; target?: string } = {}): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${opts.name ?? 'demo'}}
spec:
  provider: ${opts.provider ?? '{static: {secretRef: {name: demo-source}}}'}
  target: ${opts.target ?? '{secretName: demo-pull, namespaces: {all: true}}'}
`;
}

function only(errors: ConfigError[]): ConfigError {
  assert.equal(errors.length, 1, `expected exactly one error, got ${JSON.stringify(errors, null, 2)}`);
  return errors[0]!;
}

describe('formatPath', () => {
  test('joins keys with dots and renders indexes in brackets', () => {
    assert.equal(formatPath(['spec', 'target', 'namespaces', 'names', 2]), 'spec.target.namespaces.names[2]');
  });
  test('handles consecutive indexes and an empty path', () => {
    assert.equal(formatPath(['a', 0, 1, 'b']), 'a[0][1].b');
    assert.equal(formatPath([]), '');
    assert.equal(formatPath(['kind']), 'kind');
  });
});

describe('formatConfigError', () => {
  test('names file, document, object and path', () => {
    assert.equal(
      formatConfigError({ file: 'a.yaml', document: 2, object: 'ClusterRegistryCredential/demo', path: 'spec.target', message: 'is wrong' }),
      'a.yaml: document 2: ClusterRegistryCredential/demo: spec.target: is wrong',
    );
  });
  test('leaves out a missing object and an empty path', () => {
    assert.equal(formatConfigError({ file: 'a.yaml', document: 1, path: '', message: 'must be a mapping' }), 'a.yaml: document 1: must be a mapping');
  });
});

describe('parseConfigText: documents', () => {
  test('parses every valid document, numbering documents from 1', () => {
    const r = parseConfigText(`${CLUSTER}---\n${NAMESPACED}`, 'f.yaml');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.credentials.map((c) => [c.file, c.document, objectRef(c.object)]),
      [
        ['f.yaml', 1, 'ClusterRegistryCredential/demo'],
        ['f.yaml', 2, 'RegistryCredential/team-a/team'],
      ],
    );
  });

  test('an empty trailing document is ignored, not an error', () => {
    const r = parseConfigText(`${CLUSTER}---\n`, 'f.yaml');
    assert.deepEqual(r.errors, []);
    assert.equal(r.credentials.length, 1);
  });

  test('a YAML syntax error gives exactly one one-line error for that document, with line and column', () => {
    const text = `${CLUSTER}---\nkey: value\n  bad: indent\n  worse: [1, 2\n---\n${NAMESPACED}`;
    const r = parseConfigText(text, 'f.yaml');
    const e = only(r.errors);
    assert.equal(e.file, 'f.yaml');
    assert.equal(e.document, 2);
    assert.equal(e.path, '');
    assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
    // "key: value" is line 11 of the text; the message keeps its position once, in front.
    assert.match(e.message, /^YAML syntax error at line 11, column \d+: \S/);
    assert.equal(e.message.match(/at line/g)?.length, 1, e.message);
    // The documents around it still parse.
    assert.deepEqual(
      r.credentials.map((c) => c.document),
      [1, 3],
    );
  });

  test('each broken document gets its own single error', () => {
    const r = parseConfigText('a: [1, 2\n---\nb: {c: 1\n', 'f.yaml');
    assert.deepEqual(
      r.errors.map((e) => e.document),
      [1, 2],
    );
    for (const e of r.errors) assert.match(e.message, /^YAML syntax error at line \d+, column \d+: [^\n]+$/);
  });

  for (const [what, text] of [
    ['a sequence', '- a\n- b\n'],
    ['a scalar', 'just a string\n'],
    ['a number', '42\n'],
  ] as const) {
    test(`a document that is ${what} must be a mapping`, () => {
      const e = only(parseConfigText(text, 'f.yaml').errors);
      assert.deepEqual(e, { file: 'f.yaml', document: 1, path: '', message: 'must be a mapping with apiVersion, kind, metadata and spec' });
    });
  }

  test('schema errors carry the object reference and a kubectl-style path', () => {
    const r = parseConfigText(cluster({ target: '{secretName: demo-pull, namespaces: {names: [a, b, Not_Valid]}}' }), 'f.yaml');
    const e = only(r.errors);
    assert.equal(e.object, 'ClusterRegistryCredential/demo');
    assert.equal(e.path, 'spec.target.namespaces.names[2]');
    assert.match(e.message, /DNS-1123 label/);
  });

  test('reports a wrong apiVersion and kind', () => {
    const text = CLUSTER.replace('regcred.dev/v1alpha1', 'v1').replace('ClusterRegistryCredential', 'Secret');
    const errs = parseConfigText(text, 'f.yaml').errors.map((e) => [e.path, e.message]);
    assert.deepEqual(errs, [
      ['apiVersion', 'must be "regcred.dev/v1alpha1"'],
      ['kind', 'must be one of ClusterRegistryCredential, RegistryCredential'],
    ]);
  });
});

describe('schema defaults', () => {
  test('serviceAccounts, labels, annotations, adopt, refresh and cleanupPolicy get their defaults', () => {
    const r = parseConfigText(CLUSTER, 'f.yaml');
    assert.deepEqual(r.errors, []);
    const spec = r.credentials[0]!.object.spec;
    assert.deepEqual(spec.target.serviceAccounts, ['default']);
    assert.deepEqual(spec.target.labels, {});
    assert.deepEqual(spec.target.annotations, {});
    assert.equal(spec.target.adopt, false);
    assert.equal(spec.cleanupPolicy, 'Delete');
    assert.deepEqual(spec.refresh, { interval: '6h' });
    assert.deepEqual(spec.provider, { key: 'static', config: { secretRef: { name: 'demo-source' } } });
  });

  test('refresh.interval defaults to 6h also when refresh is given without it', () => {
    const text = `${CLUSTER}  refresh: {renewBefore: 30m}\n`;
    const r = parseConfigText(text, 'f.yaml');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.credentials[0]!.object.spec.refresh, { renewBefore: '30m', interval: '6h' });
  });

  test('explicit values override the defaults', () => {
    const text = cluster({ target: '{secretName: p, namespaces: {all: true}, serviceAccounts: [], adopt: true}' }) + '  cleanupPolicy: Retain\n  refresh: {interval: 10m}\n';
    const r = parseConfigText(text, 'f.yaml');
    assert.deepEqual(r.errors, []);
    const spec = r.credentials[0]!.object.spec;
    assert.deepEqual(spec.target.serviceAccounts, []);
    assert.equal(spec.target.adopt, true);
    assert.equal(spec.cleanupPolicy, 'Retain');
    assert.equal(spec.refresh.interval, '10m');
  });

  test('two parsed objects do not share the default serviceAccounts array', () => {
    const a = parseConfigText(CLUSTER, 'a.yaml').credentials[0]!.object;
    const b = parseConfigText(CLUSTER, 'b.yaml').credentials[0]!.object;
    a.spec.target.serviceAccounts.push('builder');
    assert.deepEqual(b.spec.target.serviceAccounts, ['default']);
  });
});

describe('schema rules per kind', () => {
  test('ClusterRegistryCredential requires target.namespaces', () => {
    const e = only(parseConfigText(cluster({ target: '{secretName: p}' }), 'f.yaml').errors);
    assert.equal(e.path, 'spec.target.namespaces');
    assert.equal(e.message, 'is required for ClusterRegistryCredential');
  });

  test('RegistryCredential must not have target.namespaces', () => {
    const text = NAMESPACED.replace('secretName: team-pull', 'secretName: team-pull\n    namespaces: {names: [x]}');
    const e = only(parseConfigText(text, 'f.yaml').errors);
    assert.equal(e.object, 'RegistryCredential/team-a/team');
    assert.equal(e.path, 'spec.target.namespaces');
    assert.match(e.message, /^is not allowed for RegistryCredential/);
  });

  test('RegistryCredential requires metadata.namespace', () => {
    const text = NAMESPACED.replace('{name: team, namespace: team-a}', '{name: team}');
    const e = only(parseConfigText(text, 'f.yaml').errors);
    assert.equal(e.object, 'RegistryCredential/team');
    assert.equal(e.path, 'metadata.namespace');
    assert.equal(e.message, 'is required for RegistryCredential');
  });

  test('namespaces takes exactly one of names, selector, all', () => {
    const none = only(parseConfigText(cluster({ target: '{secretName: p, namespaces: {exclude: [a]}}' }), 'f.yaml').errors);
    assert.equal(none.path, 'spec.target.namespaces');
    assert.equal(none.message, 'needs exactly one of names, selector, all');
    const two = only(parseConfigText(cluster({ target: '{secretName: p, namespaces: {names: [a], all: true}}' }), 'f.yaml').errors);
    assert.equal(two.message, 'takes exactly one of names, selector, all; found names and all');
  });

  for (const key of ['regcred.dev/x', 'app.kubernetes.io/managed-by']) {
    test(`target.labels may not use the reserved key ${key}`, () => {
      const e = only(parseConfigText(cluster({ target: `{secretName: p, namespaces: {all: true}, labels: {"${key}": v, team: a}}` }), 'f.yaml').errors);
      assert.equal(e.path, `spec.target.labels.${key}`);
      assert.equal(e.message, 'is reserved for regcred');
    });
  }

  test('other label keys, even similar ones, are allowed', () => {
    const r = parseConfigText(
      cluster({ target: '{secretName: p, namespaces: {all: true}, labels: {"app.kubernetes.io/name": x, "example.com/regcred.dev": y, "regcred.dev": z}}' }),
      'f.yaml',
    );
    assert.deepEqual(r.errors, []);
  });

  test('reserved keys are rejected in target.annotations too', () => {
    const e = only(parseConfigText(cluster({ target: '{secretName: p, namespaces: {all: true}, annotations: {"regcred.dev/content-hash": x}}' }), 'f.yaml').errors);
    assert.equal(e.path, 'spec.target.annotations.regcred.dev/content-hash');
  });
});

describe('schema: spec.provider', () => {
  test('an unknown provider key is reported at its path, listing the known providers', () => {
    const e = only(parseConfigText(cluster({ provider: '{nope: {x: 1}}' }), 'f.yaml').errors);
    assert.equal(e.path, 'spec.provider.nope');
    assert.equal(e.message, `unknown provider "nope" (known: ${knownProviderKeys().join(', ')})`);
    assert.ok(knownProviderKeys().includes('ecr') && knownProviderKeys().includes('static'));
  });

  test('two provider keys are refused', () => {
    const e = only(parseConfigText(cluster({ provider: '{static: {secretRef: {name: s}}, ecr: {region: us-east-1}}' }), 'f.yaml').errors);
    assert.equal(e.path, 'spec.provider');
    assert.equal(e.message, 'exactly one provider key is allowed, found 2: static, ecr');
  });

  test('zero provider keys are refused, naming the known providers', () => {
    const e = only(parseConfigText(cluster({ provider: '{}' }), 'f.yaml').errors);
    assert.equal(e.path, 'spec.provider');
    assert.equal(e.message, `exactly one provider key is required (one of: ${knownProviderKeys().join(', ')})`);
  });

  test('errors inside the provider config are prefixed with spec.provider.<key>', () => {
    const r = parseConfigText(cluster({ provider: '{static: {secretRef: {name: Bad_Name}, extra: 1}}' }), 'f.yaml');
    const paths = r.errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ['spec.provider.static', 'spec.provider.static.secretRef.name']);
    const nameErr = r.errors.find((e) => e.path === 'spec.provider.static.secretRef.name')!;
    assert.match(nameErr.message, /DNS-1123 subdomain/);
    assert.match(r.errors.find((e) => e.path === 'spec.provider.static')!.message, /extra/);
  });

  test('an empty provider config reports the missing secretRef', () => {
    const e = only(parseConfigText(cluster({ provider: '{static: {}}' }), 'f.yaml').errors);
    assert.equal(e.path, 'spec.provider.static.secretRef');
  });

  test('the provider config is validated and returned parsed', () => {
    const parsed = credentialObject.parse({
      apiVersion: 'regcred.dev/v1alpha1',
      kind: 'ClusterRegistryCredential',
      metadata: { name: 'x' },
      spec: { provider: { static: { secretRef: { name: 's', namespace: 'ns' }, registry: 'ghcr.io' } }, target: { secretName: 'p', namespaces: { all: true } } },
    });
    assert.deepEqual(parsed.spec.provider, { key: 'static', config: { secretRef: { name: 's', namespace: 'ns' }, registry: 'ghcr.io' } });
  });
});

describe('loadConfigFiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  test('loads credentials from several files', async () => {
    const a = write('a.yaml', CLUSTER);
    const b = write('b.yaml', NAMESPACED);
    const r = await loadConfigFiles([a, b]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.credentials.map((c) => [c.file, objectRef(c.object)]),
      [
        [a, 'ClusterRegistryCredential/demo'],
        [b, 'RegistryCredential/team-a/team'],
      ],
    );
  });

  test('a missing file gives "file not found" and the other files still load', async () => {
    const a = write('ok.yaml', CLUSTER);
    const missing = join(dir, 'does-not-exist.yaml');
    const r = await loadConfigFiles([missing, a]);
    const e = only(r.errors);
    assert.equal(e.file, missing);
    assert.equal(e.message, 'file not found');
    assert.equal(e.path, '');
    assert.equal(r.credentials.length, 1);
  });

  test('the same object in two files is reported once, at the second occurrence', async () => {
    const a = write('dup-a.yaml', CLUSTER);
    const b = write('dup-b.yaml', `${NAMESPACED}---\n${CLUSTER}`);
    const r = await loadConfigFiles([a, b]);
    const e = only(r.errors);
    assert.deepEqual(e, {
      file: b,
      document: 2,
      object: 'ClusterRegistryCredential/demo',
      path: 'metadata.name',
      message: `duplicates ${a} document 1`,
    });
  });

  test('same-named RegistryCredentials in different namespaces are not duplicates', async () => {
    const a = write('ns-a.yaml', NAMESPACED);
    const b = write('ns-b.yaml', NAMESPACED.replace('namespace: team-a', 'namespace: team-b'));
    const r = await loadConfigFiles([a, b]);
    assert.deepEqual(r.errors, []);
    assert.equal(r.credentials.length, 2);
  });

  test('a file with no credential objects is an error', async () => {
    const a = write('empty.yaml', '# nothing here\n---\n');
    const r = await loadConfigFiles([a]);
    const e = only(r.errors);
    assert.equal(e.file, a);
    assert.equal(e.message, 'contains no credential objects');
  });

  test('an empty file list is also "contains no credential objects"', async () => {
    const r = await loadConfigFiles([]);
    assert.equal(only(r.errors).message, 'contains no credential objects');
  });

  test('invalid files are not additionally reported as empty', async () => {
    const a = write('bad.yaml', '- not a mapping\n');
    const r = await loadConfigFiles([a]);
    assert.equal(only(r.errors).message, 'must be a mapping with apiVersion, kind, metadata and spec');
  });
});
