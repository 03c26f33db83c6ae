// The generated CustomResourceDefinitions on a real kube-apiserver: they install, the server applies
// their defaults and rejects bad objects at admission with a message naming the problem, and the zod
// schema (what `regcred validate` and the controller use) accepts and rejects exactly the same objects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
// client-node's serializer maps its camelCase model fields (xKubernetesValidations, _default, ...) to
// the wire names; a plain object handed to createCustomResourceDefinition would lose those keys, so the
// generated CRD is first turned into client-node's model objects.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { credentialStatus, type CredentialStatus } from '../../src/config/status-schema.js';
import { buildCrds, CRD_KINDS, CRD_VERSION } from '../../src/crdgen/crd.js';
import { API_GROUP, API_VERSION, credentialObject, type CredentialKind } from '../../src/config/schema.js';
import { knownProviderKeys } from '../../src/providers/registry.js';
import { apiMessage, statusCode } from '../../src/kube/client.js';

const NAMESPACE = 'team-a';
let cp: ControlPlane;
let ext: ApiextensionsV1Api;
let objects: CustomObjectsApi;

type Json = Record<string, unknown>;

function plural(kind: CredentialKind): string {
  return CRD_KINDS.find((k) => k.kind === kind)!.plural;
}

function crdName(kind: CredentialKind): string {
  return `${plural(kind)}.${API_GROUP}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitEstablished(name: string): Promise<V1CustomResourceDefinition> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crd = await ext.readCustomResourceDefinition({ name });
    const established = crd.status?.conditions?.find((c) => c.type === 'Established');
    if (established?.status === 'True') return crd;
    if (Date.now() > deadline) throw new Error(`CRD ${name} not Established: ${JSON.stringify(crd.status?.conditions)}`);
    await sleep(100);
  }
}

/** A raw request with the admin credentials; resolves with the status code and the parsed body. */
async function raw(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<{ code: number; body: Json }> {
  const url = new URL(path, cp.server);
  const opts: RequestOptions = { method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: { ...headers } };
  await cp.kubeConfig.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(opts, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Json) : {} }));
    });
    req.on('error', reject);
    if (body !== undefined) {
      req.setHeader('Content-Type', 'application/json');
      req.end(JSON.stringify(body));
    } else req.end();
  });
}

interface CreateResult {
  ok: boolean;
  object?: Json;
  code?: number;
  message?: string;
}

async function create(kind: CredentialKind, name: string, spec: unknown, fieldValidation?: 'Strict'): Promise<CreateResult> {
  const body = { apiVersion: API_VERSION, kind, metadata: { name }, spec };
  const common = { group: API_GROUP, version: CRD_VERSION, plural: plural(kind), body, ...(fieldValidation ? { fieldValidation } : {}) };
  try {
    const object = (kind === 'ClusterRegistryCredential'
      ? await objects.createClusterCustomObject(common)
      : await objects.createNamespacedCustomObject({ ...common, namespace: NAMESPACE })) as Json;
    return { ok: true, object };
  } catch (err) {
    const code = statusCode(err);
    if (code === undefined) throw err;
    return { ok: false, code, message: apiMessage(err) };
  }
}

/** What zod says of the same object: its data, or its issues as "path: message" lines. */
function zodCheck(kind: CredentialKind, name: string, spec: unknown): { ok: true; spec: Json } | { ok: false; message: string } {
  const metadata = kind === 'RegistryCredential' ? { name, namespace: NAMESPACE } : { name };
  const r = credentialObject.safeParse({ apiVersion: API_VERSION, kind, metadata, spec });
  if (r.success) return { ok: true, spec: r.data.spec as unknown as Json };
  return { ok: false, message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n') };
}

const staticProvider = { static: { secretRef: { name: 'static-source' } } };
const clusterTarget = (namespaces: unknown, extra: Json = {}) => ({ secretName: 'pull', namespaces, ...extra });

before(async () => {
  cp = await start();
  ext = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
  objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  for (const crd of buildCrds()) {
    const body = ObjectSerializer.deserialize(crd, 'V1CustomResourceDefinition', '') as V1CustomResourceDefinition;
    await ext.createCustomResourceDefinition({ body });
  }
  for (const k of CRD_KINDS) await waitEstablished(crdName(k.kind));
  // Established comes a moment before the new resource is served everywhere: wait until a list works.
  for (const k of CRD_KINDS) {
    for (let i = 0; ; i++) {
      const res = await raw('GET', `/apis/${API_GROUP}/${CRD_VERSION}/${k.plural}`);
      if (res.code === 200) break;
      if (i > 100) throw new Error(`cannot list ${k.plural}: ${res.code}`);
      await sleep(100);
    }
  }
});

after(async () => {
  await cp?.stop();
});

describe('the CRDs on a real API server', () => {
  test('install as written: structural, with names, columns and the status subresource', async () => {
    for (const expected of buildCrds()) {
      const name = (expected['metadata'] as { name: string }).name;
      const crd = await waitEstablished(name);
      const conditions = Object.fromEntries((crd.status?.conditions ?? []).map((c) => [c.type, c.status]));
      assert.equal(conditions['NamesAccepted'], 'True');
      assert.equal(conditions['NonStructuralSchema'], undefined, 'the schema is structural');
      const version = crd.spec.versions[0]!;
      assert.ok(version.subresources?.status, 'status is a subresource');
      assert.deepEqual(crd.spec.names.categories, ['regcred']);
      const columns = (version.additionalPrinterColumns ?? []).map((c) => [c.name.toUpperCase(), c.type, c.jsonPath]);
      assert.deepEqual(columns, [
        ['READY', 'string', '.status.conditions[?(@.type=="Ready")].status'],
        ['PROVIDER', 'string', '.status.provider'],
        ['EXPIRES', 'string', '.status.expiresAt'], // see PRINTER_COLUMNS in src/crdgen/crd.ts for why not `date`
        ['TARGETS', 'string', '.status.targetsSummary'],
        ['AGE', 'date', '.metadata.creationTimestamp'],
      ]);
      // The server kept every keyword of the generated schema (nothing dropped, nothing added).
      const stored = await raw('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      const storedVersion = (stored.body['spec'] as { versions: Json[] }).versions[0]!;
      const expectedVersion = (expected['spec'] as { versions: Json[] }).versions[0]!;
      assert.deepEqual(storedVersion['schema'], expectedVersion['schema']);
    }
    const crc = await ext.readCustomResourceDefinition({ name: crdName('ClusterRegistryCredential') });
    assert.equal(crc.spec.scope, 'Cluster');
    assert.deepEqual(crc.spec.names.shortNames, ['crc']);
    const rc = await ext.readCustomResourceDefinition({ name: crdName('RegistryCredential') });
    assert.equal(rc.spec.scope, 'Namespaced');
    assert.deepEqual(rc.spec.names.shortNames, ['rc']);
  });
});

describe('valid objects: the server accepts them and applies the same defaults as zod', () => {
  const cases: { name: string; kind: CredentialKind; spec: Json }[] = [
    { name: 'all-minimal', kind: 'ClusterRegistryCredential', spec: { provider: staticProvider, target: clusterTarget({ all: true }) } },
    {
      name: 'names-full',
      kind: 'ClusterRegistryCredential',
      spec: {
        provider: { static: { secretRef: { namespace: 'regcred-system', name: 'src' }, registry: 'https://index.docker.io/v1/' } },
        target: clusterTarget(
          { names: ['team-a', 'team-b'], exclude: ['kube-system'] },
          { serviceAccounts: ['*', 'builder'], labels: { team: 'a' }, annotations: { 'example.com/owner': 'me' }, adopt: true },
        ),
        refresh: { renewBefore: '30m' },
        cleanupPolicy: 'Retain',
      },
    },
    {
      name: 'selector',
      kind: 'ClusterRegistryCredential',
      spec: {
        provider: { static: { secretRef: { name: 'src' }, registry: '127.0.0.1:5000' } },
        target: clusterTarget({
          selector: {
            matchLabels: { 'pull-secrets': 'ecr' },
            matchExpressions: [
              { key: 'env', operator: 'In', values: ['prod', 'stage'] },
              { key: 'legacy', operator: 'DoesNotExist' },
            ],
          },
        }),
        refresh: { renewBefore: '1h30m', interval: '90s' },
      },
    },
    { name: 'rc-minimal', kind: 'RegistryCredential', spec: { provider: staticProvider, target: { secretName: 'pull' } } },
    {
      name: 'rc-no-sa',
      kind: 'RegistryCredential',
      spec: { provider: staticProvider, target: { secretName: 'pull.example', serviceAccounts: [] }, cleanupPolicy: 'Delete' },
    },
  ];

  for (const c of cases) {
    test(`${c.kind} ${c.name}`, async () => {
      const zod = zodCheck(c.kind, c.name, c.spec);
      assert.ok(zod.ok, `zod rejects it:\n${zod.ok ? '' : zod.message}`);
      const res = await create(c.kind, c.name, c.spec);
      assert.ok(res.ok, `the API server rejects it: ${res.message}`);
      const spec = res.object!['spec'] as Json;
      // The defaults, as the server applied them, equal zod's.
      const { provider: zodProvider, ...zodRest } = zod.spec as { provider: { key: string; config: unknown } } & Json;
      const { provider: serverProvider, ...serverRest } = spec as { provider: Json } & Json;
      assert.deepEqual(serverRest, zodRest);
      assert.deepEqual(serverProvider, { [zodProvider.key]: zodProvider.config });
    });
  }

  test('defaults: serviceAccounts ["default"], adopt false, cleanupPolicy Delete, refresh.interval 6h', async () => {
    for (const [kind, name] of [
      ['ClusterRegistryCredential', 'all-minimal'],
      ['RegistryCredential', 'rc-minimal'],
    ] as const) {
      const obj = (kind === 'ClusterRegistryCredential'
        ? await objects.getClusterCustomObject({ group: API_GROUP, version: CRD_VERSION, plural: plural(kind), name })
        : await objects.getNamespacedCustomObject({ group: API_GROUP, version: CRD_VERSION, plural: plural(kind), namespace: NAMESPACE, name })) as {
        spec: { target: Json; refresh: Json; cleanupPolicy: string };
      };
      assert.deepEqual(obj.spec.target['serviceAccounts'], ['default']);
      assert.equal(obj.spec.target['adopt'], false);
      assert.deepEqual(obj.spec.target['labels'], {});
      assert.deepEqual(obj.spec.target['annotations'], {});
      assert.equal(obj.spec.cleanupPolicy, 'Delete');
      assert.deepEqual(obj.spec.refresh, { interval: '6h' });
    }
  });
});

interface BadCase {
  name: string;
  kind: CredentialKind;
  spec: Json;
  /** Only where the server would otherwise prune the offending field without a word (see below). */
  fieldValidation?: 'Strict';
  server: RegExp;
  zod: RegExp;
}

function badCases(): BadCase[] {
  const keys = knownProviderKeys();
  const cases: BadCase[] = [
    {
      name: 'zero-providers',
      kind: 'ClusterRegistryCredential',
      spec: { provider: {}, target: clusterTarget({ all: true }) },
      server: /spec\.provider: Invalid value: .*exactly one provider key is required \(one of: /,
      zod: /exactly one provider key is required/,
    },
    {
      // With pruning (the default fieldValidation, Warn), the unknown key is dropped before validation,
      // which leaves zero keys: the exactly-one rule rejects it, and its message says unknown keys are dropped.
      name: 'unknown-provider',
      kind: 'ClusterRegistryCredential',
      spec: { provider: { dockerhub: { secretRef: { name: 'src' } } }, target: clusterTarget({ all: true }) },
      server: /spec\.provider: Invalid value: .*exactly one provider key is required .*keys that are not providers are dropped/,
      zod: /spec\.provider\.dockerhub: unknown provider "dockerhub"/,
    },
    {
      // With fieldValidation=Strict (what kubectl sends by default) the server names the key itself.
      name: 'unknown-provider-strict',
      kind: 'ClusterRegistryCredential',
      spec: { provider: { dockerhub: { secretRef: { name: 'src' } } }, target: clusterTarget({ all: true }) },
      fieldValidation: 'Strict',
      server: /unknown field "spec\.provider\.dockerhub"/,
      zod: /unknown provider "dockerhub"/,
    },
    keys.length >= 2
      ? {
          name: 'two-providers',
          kind: 'ClusterRegistryCredential',
          // Two valid provider configs, so only the exactly-one rule can reject the object.
          spec: { provider: { ecr: { region: 'us-east-1' }, static: { secretRef: { name: 'src' } } }, target: clusterTarget({ all: true }) },
          server: /exactly one provider key is allowed, found: ecr static/,
          zod: /exactly one provider key is allowed, found 2/,
        }
      : {
          // Only one provider is registered, so a second key is unknown: without Strict it would be
          // pruned and the object accepted with its one real provider (zod would still reject it).
          name: 'two-providers',
          kind: 'ClusterRegistryCredential',
          spec: { provider: { ...staticProvider, ecr: { region: 'us-east-1' } }, target: clusterTarget({ all: true }) },
          fieldValidation: 'Strict',
          server: /unknown field "spec\.provider\.ecr"/,
          zod: /exactly one provider key is allowed, found 2: static, ecr/,
        },
    {
      name: 'names-and-selector',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ names: ['a'], selector: { matchLabels: { a: 'b' } } }) },
      server: /spec\.target\.namespaces: Invalid value: .*takes exactly one of names, selector, all; found names and selector/,
      zod: /takes exactly one of names, selector, all; found names and selector/,
    },
    {
      name: 'no-namespace-choice',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ exclude: ['kube-system'] }) },
      server: /spec\.target\.namespaces: Invalid value: .*needs exactly one of names, selector, all/,
      zod: /needs exactly one of names, selector, all/,
    },
    {
      name: 'all-false',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ all: false }) },
      server: /spec\.target\.namespaces\.all: Unsupported value: false/,
      zod: /spec\.target\.namespaces\.all: must be true/,
    },
    {
      name: 'empty-names',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ names: [] }) },
      server: /spec\.target\.namespaces\.names: Invalid value: 0: .*at least 1 items/,
      zod: /must list at least one namespace/,
    },
    {
      name: 'uppercase-secret-name',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: { secretName: 'Pull-Secret', namespaces: { all: true } } },
      server: /spec\.target\.secretName: Invalid value: "Pull-Secret": spec\.target\.secretName in body should match/,
      zod: /spec\.target\.secretName: must be a DNS-1123 subdomain/,
    },
    {
      name: 'in-without-values',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ selector: { matchExpressions: [{ key: 'env', operator: 'In' }] } }) },
      server: /spec\.target\.namespaces\.selector\.matchExpressions\[0\]\.values: Invalid value: .*operator In needs values/,
      zod: /matchExpressions\.0\.values: operator In needs values/,
    },
    {
      name: 'exists-with-values',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ selector: { matchExpressions: [{ key: 'env', operator: 'Exists', values: ['x'] }] } }) },
      server: /matchExpressions\[0\]\.values: Invalid value: .*operator Exists takes no values/,
      zod: /operator Exists takes no values/,
    },
    {
      name: 'empty-selector',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ selector: {} }) },
      server: /spec\.target\.namespaces\.selector: Invalid value: .*needs matchLabels or matchExpressions/,
      zod: /needs matchLabels or matchExpressions/,
    },
    {
      name: 'reserved-label',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ all: true }, { labels: { team: 'a', 'regcred.dev/owner-name': 'x' } }) },
      server: /spec\.target\.labels: Invalid value: .*reserved for regcred; found regcred\.dev\/owner-name/,
      zod: /spec\.target\.labels\.regcred\.dev\/owner-name: is reserved for regcred/,
    },
    {
      name: 'reserved-annotation',
      kind: 'RegistryCredential',
      spec: { provider: staticProvider, target: { secretName: 'pull', annotations: { 'app.kubernetes.io/managed-by': 'me' } } },
      server: /spec\.target\.annotations: Invalid value: .*reserved for regcred; found app\.kubernetes\.io\/managed-by/,
      zod: /is reserved for regcred/,
    },
    {
      // The RegistryCredential CRD has no target.namespaces: without Strict the field would be pruned
      // and the object accepted (see the test below); Strict makes the server name it.
      name: 'rc-namespaces',
      kind: 'RegistryCredential',
      spec: { provider: staticProvider, target: { secretName: 'pull', namespaces: { all: true } } },
      fieldValidation: 'Strict',
      server: /unknown field "spec\.target\.namespaces"/,
      zod: /spec\.target\.namespaces: is not allowed for RegistryCredential/,
    },
    {
      name: 'crc-without-namespaces',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: { secretName: 'pull' } },
      server: /spec\.target\.namespaces: Required value/,
      zod: /spec\.target\.namespaces: is required for ClusterRegistryCredential/,
    },
    {
      name: 'bad-renew-before',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ all: true }), refresh: { renewBefore: '30 minutes' } },
      server: /spec\.refresh\.renewBefore: Invalid value: "30 minutes": spec\.refresh\.renewBefore in body should match/,
      zod: /spec\.refresh\.renewBefore: must be a duration/,
    },
    {
      name: 'cleanup-sometimes',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ all: true }), cleanupPolicy: 'Sometimes' },
      server: /spec\.cleanupPolicy: Unsupported value: "Sometimes": supported values: "Delete", "Retain"/,
      zod: /spec\.cleanupPolicy: /,
    },
    {
      name: 'bad-provider-config',
      kind: 'ClusterRegistryCredential',
      spec: { provider: { static: { secretRef: { name: 'Bad_Name' }, registry: 'has space' } }, target: clusterTarget({ all: true }) },
      // Both errors, in either order (the server's order varies).
      server: /^(?=.*spec\.provider\.static\.secretRef\.name: Invalid value: "Bad_Name")(?=.*spec\.provider\.static\.registry: Invalid value: "has space")/s,
      zod: /spec\.provider\.static\.secretRef\.name: must be a DNS-1123 subdomain/,
    },
    {
      name: 'Upper-Case-Name',
      kind: 'ClusterRegistryCredential',
      spec: { provider: staticProvider, target: clusterTarget({ all: true }) },
      server: /metadata\.name: Invalid value: "Upper-Case-Name": a lowercase RFC 1123 subdomain/,
      zod: /metadata\.name: must be a DNS-1123 subdomain/,
    },
    {
      name: 'bad-service-account',
      kind: 'RegistryCredential',
      spec: { provider: staticProvider, target: { secretName: 'pull', serviceAccounts: ['**'] } },
      server: /spec\.target\.serviceAccounts\[0\]: Invalid value: "\*\*"/,
      zod: /spec\.target\.serviceAccounts\.0/,
    },
  ];
  return cases;
}

describe('invalid objects: the server rejects them at admission, and so does zod', () => {
  for (const c of badCases()) {
    test(`${c.kind} ${c.name}${c.fieldValidation ? ` (fieldValidation=${c.fieldValidation})` : ''}`, async (t) => {
      const zod = zodCheck(c.kind, c.name, c.spec);
      assert.equal(zod.ok, false, 'zod accepts it');
      assert.match(zod.ok ? '' : zod.message, c.zod);
      const res = await create(c.kind, c.name, c.spec, c.fieldValidation);
      assert.equal(res.ok, false, `the API server accepted it: ${JSON.stringify(res.object?.['spec'])}`);
      assert.ok(res.code === 422 || res.code === 400, `HTTP ${res.code}: ${res.message}`);
      assert.match(res.message ?? '', c.server);
      t.diagnostic(`server: ${res.message}`);
      t.diagnostic(`zod: ${zod.ok ? '' : zod.message.replace(/\n/g, '; ')}`);
    });
  }

  test('without Strict, fields the CRD does not know are pruned, not rejected (zod rejects them)', async () => {
    // Which is why the cases above use fieldValidation=Strict for unknown fields. kubectl sends
    // Strict by default; a client that does not gets the field silently dropped (and a warning).
    const spec = { provider: staticProvider, target: { secretName: 'pull', namespaces: { all: true } } };
    const res = await create('RegistryCredential', 'rc-pruned', spec);
    assert.ok(res.ok, res.message);
    assert.equal((res.object!['spec'] as { target: Json }).target['namespaces'], undefined);
    assert.equal(zodCheck('RegistryCredential', 'rc-pruned', spec).ok, false);
  });
});

describe('status subresource', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const status: CredentialStatus = {
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Synced', message: 'all 12 targets synced', observedGeneration: 1, lastTransitionTime: now.toISOString() },
      { type: 'Degraded', status: 'False', reason: 'Synced', message: '', observedGeneration: 1, lastTransitionTime: now.toISOString() },
    ],
    provider: 'static',
    expiresAt: '2026-11-23T18:00:00Z',
    lastRefreshTime: now.toISOString(),
    nextRefreshTime: '2026-11-23T16:00:00Z',
    targets: { total: 12, synced: 12, failed: 0 },
    targetsSummary: '12/12',
    failures: [],
    observedGeneration: 1,
  };
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const plural = 'clusterregistrycredentials';

  test('status is written through /status, read back, and shown in the printer columns', async () => {
    credentialStatus.parse(status);
    const res = await create('ClusterRegistryCredential', 'with-status', { provider: staticProvider, target: clusterTarget({ all: true }) });
    assert.ok(res.ok, res.message);
    await objects.patchClusterCustomObjectStatus({ group: API_GROUP, version: CRD_VERSION, plural, name: 'with-status', body: { status } }, mergePatch);
    const got = (await objects.getClusterCustomObjectStatus({ group: API_GROUP, version: CRD_VERSION, plural, name: 'with-status' })) as { status: unknown };
    // The server normalizes times to RFC 3339 seconds; compare as instants.
    const norm = (s: CredentialStatus) => JSON.parse(JSON.stringify(s, (k, v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? new Date(v).toISOString() : v)));
    assert.deepEqual(norm(got.status as CredentialStatus), norm(status));

    // A write to the main resource does not touch status.
    await objects.patchClusterCustomObject(
      { group: API_GROUP, version: CRD_VERSION, plural, name: 'with-status', body: { spec: { cleanupPolicy: 'Retain' }, status: { provider: 'changed' } } },
      mergePatch,
    );
    const after = (await objects.getClusterCustomObject({ group: API_GROUP, version: CRD_VERSION, plural, name: 'with-status' })) as {
      spec: { cleanupPolicy: string };
      status: { provider: string };
    };
    assert.equal(after.spec.cleanupPolicy, 'Retain');
    assert.equal(after.status.provider, 'static');

    // What `kubectl get crc` prints: the server-side Table.
    const table = await raw('GET', `/apis/${API_GROUP}/${CRD_VERSION}/${plural}/with-status`, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    assert.equal(table.code, 200, JSON.stringify(table.body));
    const names = (table.body['columnDefinitions'] as { name: string }[]).map((c) => c.name.toUpperCase());
    assert.deepEqual(names, ['NAME', 'READY', 'PROVIDER', 'EXPIRES', 'TARGETS', 'AGE']);
    const cells = (table.body['rows'] as { cells: unknown[] }[])[0]!.cells;
    assert.equal(cells[0], 'with-status');
    assert.equal(cells[1], 'True');
    assert.equal(cells[2], 'static');
    assert.equal(cells[3], '2026-11-23T18:00:00Z', 'EXPIRES shows the instant (a `date` column would show "<invalid>" for a future time)');
    assert.equal(cells[4], '12/12');
  });

  test('status is validated too: more than 20 failures, or a bad condition, are rejected (by zod as well)', async () => {
    const res = await create('ClusterRegistryCredential', 'status-limits', { provider: staticProvider, target: clusterTarget({ all: true }) });
    assert.ok(res.ok, res.message);
    const failures = Array.from({ length: 21 }, (_, i) => ({ namespace: `ns-${i}`, reason: 'Forbidden', message: 'denied' }));
    const bad: [string, Json, RegExp][] = [
      ['too many failures', { ...status, failures }, /status\.failures: Too many: 21: must have at most 20 items/],
      [
        'condition status',
        { ...status, conditions: [{ ...status.conditions![0]!, status: 'Yes' }] },
        /status\.conditions\[0\]\.status: Unsupported value: "Yes"/,
      ],
      ['negative count', { ...status, targets: { total: -1, synced: 0, failed: 0 } }, /status\.targets\.total: Invalid value: -1/],
    ];
    for (const [what, body, message] of bad) {
      assert.equal(credentialStatus.safeParse(body).success, false, `zod accepts ${what}`);
      await assert.rejects(
        objects.patchClusterCustomObjectStatus({ group: API_GROUP, version: CRD_VERSION, plural, name: 'status-limits', body: { status: body } }, mergePatch),
        (err: unknown) => {
          assert.equal(statusCode(err), 422, what);
          assert.match(apiMessage(err), message);
          return true;
        },
      );
    }
  });

  test('a RegistryCredential has a status subresource too', async () => {
    const res = await create('RegistryCredential', 'rc-status', { provider: staticProvider, target: { secretName: 'pull' } });
    assert.ok(res.ok, res.message);
    const rcStatus = { provider: 'static', targets: { total: 1, synced: 1, failed: 0 }, targetsSummary: '1/1', observedGeneration: 1 };
    credentialStatus.parse(rcStatus);
    await objects.patchNamespacedCustomObjectStatus(
      { group: API_GROUP, version: CRD_VERSION, plural: 'registrycredentials', namespace: NAMESPACE, name: 'rc-status', body: { status: rcStatus } },
      mergePatch,
    );
    const got = (await objects.getNamespacedCustomObjectStatus({
      group: API_GROUP,
      version: CRD_VERSION,
      plural: 'registrycredentials',
      namespace: NAMESPACE,
      name: 'rc-status',
    })) as { status: unknown };
    assert.deepEqual(got.status, rcStatus);
  });
});
