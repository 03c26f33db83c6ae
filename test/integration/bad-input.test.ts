// Bad input against a real API server (issue 7, reliability suite): fuzzed credential objects
// (fast-check) applied through the API never crash the controller and end with a Ready condition
// (InvalidSpec when the schema refuses them), while a known-good credential keeps being refreshed;
// source Secrets with missing keys, binary junk or 1 MiB values give a clear condition and a clear
// `regcred sync` error; no junk value is ever printed. The fuzz seed is fixed (REGCRED_FUZZ_SEED).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import fc from 'fast-check';
import { stringify as yamlStringify } from 'yaml';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { httpStatus, secretOrUndefined } from '../harness/kube.js';
import { allCliOutput, runCli, writeConfig } from '../harness/cli.js';
import { spawnController, type ControllerProcess } from '../harness/controller-process.js';
import { startTestController, readyOf, type CredentialStatus, type TestController } from '../harness/test-controller.js';
import { credentialObject } from '../../src/config/schema.js';
import { knownProviderKeys } from '../../src/providers/registry.js';
import { eventually } from '../harness/eventually.js';

const SEED = process.env['REGCRED_FUZZ_SEED'] ? Number(process.env['REGCRED_FUZZ_SEED']) : 7_2026;
const FUZZ_COUNT = process.env['REGCRED_FUZZ_COUNT'] ? Number(process.env['REGCRED_FUZZ_COUNT']) : 100;
const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';
const PLURAL = { ClusterRegistryCredential: 'clusterregistrycredentials', RegistryCredential: 'registrycredentials' } as const;
type Kind = keyof typeof PLURAL;
const SYSTEM_NS = 'regcred-system';
const FUZZ_NS = 'fuzz-ns';
const TARGET_NS = 'fuzz-target';

let cp: ControlPlane;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let ctl: TestController | undefined;
let proc: ControllerProcess | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
/** Every junk value put into a source Secret: none may be printed, raw or base64. */
const junkValues: string[] = [];
/** The in-process controller's log lines (kept after it stops). */
let inProcessLog: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; generation?: number; uid?: string };
  spec?: unknown;
  status?: CredentialStatus & { observedGeneration?: number };
}

async function getObject(kind: Kind, name: string, namespace?: string): Promise<RawObject> {
  return (kind === 'ClusterRegistryCredential'
    ? await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[kind], name })
    : await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[kind], namespace: namespace!, name })) as RawObject;
}

async function createObject(obj: { kind: Kind; metadata: { name: string; namespace?: string } } & Record<string, unknown>): Promise<void> {
  if (obj.kind === 'ClusterRegistryCredential') await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[obj.kind], body: obj });
  else await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[obj.kind], namespace: obj.metadata.namespace!, body: obj });
}

/** The Ready condition once the controller has looked at the current generation. */
function currentReady(o: RawObject): { status: string; reason: string; message: string } | undefined {
  const ready = o.status ? readyOf(o.status) : undefined;
  const observed = (o.status?.conditions?.find((c) => c.type === 'Ready') as { observedGeneration?: number } | undefined)?.observedGeneration;
  return ready && (observed === undefined || observed === o.metadata?.generation) ? ready : undefined;
}

function auths(secret: V1Secret | undefined): Record<string, { username: string; password: string; auth: string }> {
  const text = Buffer.from(secret?.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
  return text ? ((JSON.parse(text) as { auths?: Record<string, { username: string; password: string; auth: string }> }).auths ?? {}) : {};
}

async function setGoodPassword(password: string): Promise<void> {
  await core.replaceNamespacedSecret({
    namespace: SYSTEM_NS,
    name: 'good-source',
    body: { metadata: { name: 'good-source' }, stringData: { registry: 'good.example.com', username: 'good-robot', password } },
  });
}

// ---------------------------------------------------------------------------------------------
// Fuzzed objects
// ---------------------------------------------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const junk = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('', ' ', 'a\nb', '__proto__', -1, 0, 1.5, 1e300, true, false, null, [], {}, 'x'.repeat(3000), '💥', 'ghcr.io', '*', 'Delete', 'regcred.dev/owner'),
);
// A near-valid spec first (valid shapes, plausible semantic near-misses), then 0..2 random
// mutations at random places (delete, replace with junk, add an unknown key).
const labelKey = fc.oneof({ weight: 5, arbitrary: label }, { weight: 2, arbitrary: fc.constantFrom('a b', 'Ünïcode', 'x/y/z', '-lead', 'k'.repeat(70), 'example.com/ok', 'regcred.dev/owner') });
const sourceName = fc.oneof({ weight: 2, arbitrary: label }, { weight: 3, arbitrary: fc.constant('good-source') });
const namespacesArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ names: [TARGET_NS] }) },
  { weight: 1, arbitrary: fc.record({ names: fc.array(label, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ selector: fc.record({ matchLabels: fc.dictionary(labelKey, label, { minKeys: 1, maxKeys: 2 }) }) }) },
  { weight: 1, arbitrary: fc.record({ selector: fc.record({ matchExpressions: fc.array(fc.record({ key: label, operator: fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'), values: fc.array(label, { maxLength: 2 }) }, { requiredKeys: ['key', 'operator'] }), { minLength: 1, maxLength: 2 }) }) }) },
  { weight: 1, arbitrary: fc.record({ all: fc.constant(true), exclude: fc.array(label, { maxLength: 2 }) }, { requiredKeys: ['all'] }) },
);
const targetArb = (kind: Kind) =>
  fc.record(
    {
      secretName: label.map((l) => `fz-${l}`),
      ...(kind === 'ClusterRegistryCredential' ? { namespaces: namespacesArb } : {}),
      serviceAccounts: fc.array(fc.oneof(fc.constant('*'), label), { maxLength: 2 }),
      labels: fc.dictionary(labelKey, fc.oneof({ weight: 8, arbitrary: label }, { weight: 1, arbitrary: fc.constantFrom('-bad-', 'v'.repeat(64)) }), { maxKeys: 2 }),
      annotations: fc.dictionary(labelKey, fc.string({ maxLength: 20 }), { maxKeys: 2 }),
      adopt: fc.boolean(),
    },
    { requiredKeys: ['secretName'], noNullPrototype: true },
  );
const providerArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ static: fc.record({ secretRef: fc.record({ name: sourceName, namespace: fc.constantFrom(SYSTEM_NS, FUZZ_NS, 'elsewhere') }, { requiredKeys: ['name'] }), registry: fc.constantFrom('ghcr.io', 'ghcr.io', '127.0.0.1:5000', 'https://x.io/v1/', 'ünï.example', 'a b') }, { requiredKeys: ['secretRef'] }) }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.record({ region: fc.constantFrom('us-east-1', 'eu-west-2') }), fc.record({ regions: fc.uniqueArray(fc.constantFrom('us-east-1', 'eu-west-2'), { minLength: 1 }) })), label)
      .map(([r, name]) => ({ ecr: { ...r, endpoint: 'http://127.0.0.1:9', auth: { secretRef: { name } } } })),
  },
  { weight: 1, arbitrary: fc.constant({ exec: { command: '/bin/false', registries: ['ghcr.io'] } }) },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...knownProviderKeys()), fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }) },
);
const baseSpecArb = (kind: Kind) =>
  fc
    .record(
      {
        provider: providerArb,
        target: targetArb(kind),
        refresh: fc.record({ interval: fc.constantFrom('1h', '90s', '1h30m', '0s', '1.5h', '1µs'), renewBefore: fc.constantFrom('10m', '2h', '0s') }, { requiredKeys: [] }),
        cleanupPolicy: fc.constantFrom('Delete', 'Retain'),
      },
      { requiredKeys: ['provider', 'target'], noNullPrototype: true },
    )
    // Semantic near-misses the kinds differ on: a RegistryCredential with namespaces, a cluster one without.
    .chain((spec) =>
      fc.constantFrom(0, 0, 0, 0, 1).map((flip) => {
        if (!flip) return spec;
        const target = { ...(spec.target as Record<string, unknown>) };
        if (kind === 'RegistryCredential') target['namespaces'] = { names: [TARGET_NS] };
        else delete target['namespaces'];
        return { ...spec, target };
      }),
    );

type Path = Array<string | number>;
function paths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}
type Mutation = { op: 'delete' } | { op: 'replace'; value: unknown } | { op: 'add'; key: string; value: unknown };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ op: 'delete' as const }),
  junk.map((value) => ({ op: 'replace' as const, value })),
  fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('extra', 'status', 'constructor')), junk).map(([key, value]) => ({ op: 'add' as const, key, value })),
);
function mutate(spec: unknown, muts: Array<[number, Mutation]>): unknown {
  const root = { spec: structuredClone(spec) } as Record<string, any>;
  for (const [pick, m] of muts) {
    const all = paths(root.spec, ['spec']);
    const path = all[pick % all.length]!;
    let parent: any = root;
    for (const p of path.slice(0, -1)) parent = parent[p];
    const key = path[path.length - 1]!;
    if (m.op === 'add') {
      const t = parent[key];
      if (t && typeof t === 'object' && !Array.isArray(t)) t[m.key] = m.value;
    } else if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else parent[key] = m.value;
  }
  return root.spec;
}
const specArb = (kind: Kind) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.tuple(baseSpecArb(kind), fc.oneof(fc.constant([] as Array<[number, Mutation]>), fc.array(fc.tuple(fc.nat(), mutationArb), { minLength: 1, maxLength: 2 }))).map(([spec, muts]) => mutate(spec, muts)) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  );
const fuzzedArb = fc.constantFrom<Kind>('ClusterRegistryCredential', 'RegistryCredential').chain((kind) =>
  fc.record({ kind: fc.constant(kind), spec: specArb(kind), badName: fc.integer({ min: 0, max: 29 }).map((n) => n === 0) }),
);

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true'; // the in-process controller's ecr default chain fails fast
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(cp.kubeConfig);
  for (const ns of [SYSTEM_NS, FUZZ_NS, TARGET_NS, 'good-target', 'src-target']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedSecret({
    namespace: SYSTEM_NS,
    body: { metadata: { name: 'good-source' }, stringData: { registry: 'good.example.com', username: 'good-robot', password: 'good-password-0' } },
  });
  // The same source for RegistryCredentials in the fuzz namespace, so some fuzzed objects mint and write.
  await core.createNamespacedSecret({
    namespace: FUZZ_NS,
    body: { metadata: { name: 'good-source' }, stringData: { registry: 'fuzz.example.com', username: 'fuzz-robot', password: 'fuzz-password-0' } },
  });
  ctl = await startTestController(cp, { minRefreshDelayMs: 1000, retryBaseMs: 300, retryMaxMs: 2000 });
  inProcessLog = ctl.logLines;
  // The known-good credential, refreshed every 2 s while the junk arrives.
  await ctl.createClusterCredential('good', {
    provider: { static: { secretRef: { name: 'good-source' } } },
    target: { secretName: 'good-pull', namespaces: { names: ['good-target'] }, serviceAccounts: [] },
    refresh: { interval: '2s' },
  });
  await ctl.waitForStatus('good', (s) => readyOf(s)?.status === 'True', 30_000);
});

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await ctl?.stop().catch(() => undefined);
  await proc?.stop('SIGKILL');
  await cp?.stop();
});

// ---------------------------------------------------------------------------------------------
// Fuzzed credential objects
// ---------------------------------------------------------------------------------------------

describe('fuzzed credential objects through the API server', () => {
  test(`${FUZZ_COUNT} fuzzed objects: accepted ones all get a Ready condition (InvalidSpec when the schema refuses them), the controller keeps running`, { timeout: 240_000 }, async () => {
    const c = ctl!;
    const samples = fc.sample(fuzzedArb, { numRuns: FUZZ_COUNT, seed: SEED });
    const refreshesBefore = await c.refreshes('good');
    const accepted: Array<{ kind: Kind; name: string; namespace?: string }> = [];
    const rejected: Record<string, number> = {};
    const zodOkButRejected: string[] = [];
    const t0 = Date.now();
    for (const [i, s] of samples.entries()) {
      const name = s.badName ? `Fuzz_${i}!` : `fuzz-${i}`;
      const body = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: s.kind,
        metadata: { name, ...(s.kind === 'RegistryCredential' ? { namespace: FUZZ_NS } : {}) },
        spec: s.spec,
      };
      // JSON round trip: what goes over the wire (undefined dropped, -0 -> 0).
      let wire: typeof body;
      try {
        wire = JSON.parse(JSON.stringify(body)) as typeof body;
      } catch {
        continue;
      }
      try {
        await createObject(wire as never);
        accepted.push({ kind: s.kind, name, ...(s.kind === 'RegistryCredential' ? { namespace: FUZZ_NS } : {}) });
      } catch (err) {
        const code = (err as { code?: number }).code;
        assert.ok(code === 422 || code === 400, `create of ${name} failed with ${code}: ${String(err).slice(0, 300)}`);
        rejected[String(code)] = (rejected[String(code)] ?? 0) + 1;
        if (process.env['REGCRED_FUZZ_DEBUG']) console.log(`# rejected ${name}: ${String((err as { body?: unknown }).body).slice(0, 400)}`);
        if (credentialObject.safeParse(wire).success) zodOkButRejected.push(`${name}: ${JSON.stringify(wire.spec).slice(0, 300)} -> ${String((err as { body?: unknown }).body).slice(0, 300)}`);
      }
    }
    const createdIn = Date.now() - t0;

    // Every accepted object gets a Ready condition for its current generation.
    const results = new Map<string, { ready: { status: string; reason: string; message: string }; schemaValid: boolean; spec: unknown }>();
    await eventually(
      'a Ready condition on every accepted fuzzed object',
      async () => {
        for (const a of accepted) {
          const key = `${a.kind}/${a.namespace ?? ''}/${a.name}`;
          if (results.has(key)) continue;
          const o = await getObject(a.kind, a.name, a.namespace);
          const ready = currentReady(o);
          if (!ready) continue;
          const { status: _s, ...stored } = o;
          results.set(key, { ready, schemaValid: credentialObject.safeParse(stored).success, spec: o.spec });
        }
        return results.size === accepted.length;
      },
      120_000,
    ).catch((err: Error) => {
      const missing = accepted.filter((a) => !results.has(`${a.kind}/${a.namespace ?? ''}/${a.name}`)).map((a) => a.name);
      throw new Error(`${err.message}; no Ready condition on ${missing.join(', ')}`);
    });

    const reasons: Record<string, number> = {};
    const problems: string[] = [];
    let invalid = 0;
    for (const [key, r] of results) {
      reasons[r.ready.reason] = (reasons[r.ready.reason] ?? 0) + 1;
      if (process.env['REGCRED_FUZZ_DEBUG']) console.log(`# ${key}: ${r.ready.status}/${r.ready.reason}: ${r.ready.message.slice(0, 200)} spec=${JSON.stringify(r.spec).slice(0, 300)}`);
      if (!r.schemaValid) {
        invalid++;
        if (r.ready.status !== 'False' || r.ready.reason !== 'InvalidSpec') problems.push(`${key}: schema-invalid but Ready=${r.ready.status}/${r.ready.reason}`);
      } else if (r.ready.reason === 'InvalidSpec') problems.push(`${key}: schema-valid but InvalidSpec: ${r.ready.message}`);
      if (!r.ready.message || /[\r\n]/.test(r.ready.message)) problems.push(`${key}: condition message not one line: ${JSON.stringify(r.ready.message).slice(0, 200)}`);
    }
    console.log(
      `# fuzz seed ${SEED}: ${samples.length} generated, ${accepted.length} accepted by the API server (${invalid} schema-invalid, ${accepted.length - invalid} schema-valid), ` +
        `${Object.values(rejected).reduce((a, b) => a + b, 0)} rejected ${JSON.stringify(rejected)}; created in ${createdIn} ms; Ready reasons ${JSON.stringify(reasons)}`,
    );
    if (zodOkButRejected.length > 0) console.log(`# schema-valid but refused by the CRD (${zodOkButRejected.length}):\n# ${zodOkButRejected.join('\n# ')}`);
    assert.deepEqual(problems, []);
    assert.ok(accepted.length > 0 && Object.keys(rejected).length > 0, 'the fuzz should produce both accepted and rejected objects');

    // The controller is alive and still does its job for the good credential.
    assert.deepEqual(c.controller.healthz(), { ok: true });
    assert.deepEqual(c.controller.readyz(), { ok: true });
    const refreshesAfter = await eventually('the good credential refreshed during the fuzz', async () => {
      const n = await c.refreshes('good');
      return n > refreshesBefore ? n : undefined;
    });
    await setGoodPassword('good-password-1');
    await eventually('the rotated good password in good-target/good-pull', async () => auths(await secretOrUndefined(core, 'good-target', 'good-pull'))['good.example.com']?.password === 'good-password-1', 20_000);
    const good = await c.waitForStatus('good', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(good)?.reason, 'Synced');
    console.log(`# good credential: ${refreshesAfter - refreshesBefore}+ refreshes during the fuzz, rotated password picked up, Ready=True`);
    assert.deepEqual(unhandled.map(String), [], 'no unhandled rejection');
    const errors = c.logLines.filter((l) => /"level":(50|60)/.test(l));
    console.log(`# controller log: ${c.logLines.length} lines, ${errors.length} at error/fatal level`);
  });
});

describe('target labels and annotations the API server refuses on a Secret', () => {
  for (const [what, target] of [
    ['a label key with a space', { labels: { 'a b': 'x' } }],
    ['a label key over 63 characters', { labels: { ['k'.repeat(70)]: 'x' } }],
    ['an annotation key with a space', { annotations: { 'a b': 'x' } }],
  ] as const) {
    // Found by the fuzz above (fuzz-14, fuzz-79 with seed 72026): such keys used to pass both the
    // schema and the CRD, and the Secret write then failed with a generic ApiError. Now refused at
    // admission by a CEL rule, and by the schema for files.
    test(`${what}: refused at admission (422) and by regcred validate, naming the field`, { timeout: 60_000 }, async () => {
      const name = `lk-${what.replace(/[^a-z0-9]+/g, '-')}`.slice(0, 40).replace(/-$/, '');
      const obj = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'RegistryCredential' as const,
        metadata: { name, namespace: FUZZ_NS },
        spec: { provider: { static: { secretRef: { name: 'good-source' } } }, target: { secretName: `${name}-pull`, serviceAccounts: [], ...target } },
      };
      await assert.rejects(createObject(obj), (err: unknown) => {
        const e = err as { code?: number; body?: unknown };
        assert.equal(e.code, 422);
        assert.match(String(typeof e.body === 'string' ? e.body : JSON.stringify(e.body)), /spec\.target\.(labels|annotations).*keys must be \[prefix\/\]name/);
        return true;
      });
      const res = await runCli(['validate', '-f', '-'], { input: JSON.stringify(obj) });
      assert.equal(res.code, 2, res.stdout + res.stderr);
      assert.match(res.stderr, /spec\.target\.(labels|annotations)\.[^:]*: is not a valid key/);
      assert.deepEqual(ctl!.controller.healthz(), { ok: true });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Bad source Secrets
// ---------------------------------------------------------------------------------------------

/** Random bytes that are not valid UTF-8 (0xff never occurs in UTF-8). */
function binaryJunk(n: number): Buffer {
  const b = randomBytes(n);
  b[0] = 0xff;
  b[Math.floor(n / 2)] = 0xfe;
  return b;
}
const HUGE = 1024 * 1024 - 4096; // a Secret's data may total 1 MiB; leave room for the other keys
const hugePassword = `HUGE${randomBytes(HUGE / 2).toString('hex')}`.slice(0, HUGE);
const junkPassword = binaryJunk(48);
const junkConfig = binaryJunk(64);

interface SourceCase {
  name: string;
  data: Record<string, Buffer>;
  /** What the message must name (the key the problem is in). */
  names: string[];
}
const SOURCE_CASES: SourceCase[] = [
  { name: 'src-missing', data: { registry: Buffer.from('missing.example.com'), username: Buffer.from('robot') }, names: ['"password"'] },
  { name: 'src-empty', data: {}, names: ['"username"', '"password"', '"registry"'] },
  { name: 'src-binary-password', data: { registry: Buffer.from('binary.example.com'), username: Buffer.from('robot'), password: junkPassword }, names: ['"password"'] },
  { name: 'src-binary-dockerconfig', data: { '.dockerconfigjson': junkConfig }, names: ['.dockerconfigjson'] },
  { name: 'src-huge-password', data: { registry: Buffer.from('huge.example.com'), username: Buffer.from('robot'), password: Buffer.from(hugePassword) }, names: ['password'] },
];

function credentialFor(c: SourceCase): Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ClusterRegistryCredential',
    metadata: { name: c.name },
    spec: { provider: { static: { secretRef: { name: c.name } } }, target: { secretName: `${c.name}-pull`, namespaces: { names: ['src-target'] }, serviceAccounts: [] } },
  };
}

describe('bad source Secrets', () => {
  before(async () => {
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    const hugeAuth = b64(`robot:${hugePassword}`);
    // Raw, and the encoded forms a value takes on the way (base64, the auth field, base64 of that): middle slices.
    junkValues.push(
      junkPassword.toString('utf8'),
      junkPassword.toString('base64'),
      junkPassword.toString('latin1'),
      junkConfig.toString('base64'),
      hugePassword.slice(0, 64),
      hugePassword.slice(-64),
      b64(hugePassword).slice(4000, 4064),
      hugeAuth.slice(4000, 4064),
      b64(hugeAuth).slice(4000, 4064),
    );
    for (const c of SOURCE_CASES) {
      await core.createNamespacedSecret({
        namespace: SYSTEM_NS,
        body: { metadata: { name: c.name }, type: 'Opaque', data: Object.fromEntries(Object.entries(c.data).map(([k, v]) => [k, v.toString('base64')])) },
      });
    }
  });

  for (const c of SOURCE_CASES) {
    test(`${c.name}: controller condition names the Secret and key, never the value; the controller keeps running`, { timeout: 60_000 }, async () => {
      const t = ctl!;
      await t.createClusterCredential(c.name, (credentialFor(c) as { spec: Record<string, unknown> }).spec);
      const status = await t.waitForStatus(c.name, (s) => !!readyOf(s) && readyOf(s)!.reason !== 'Pending', 30_000);
      const ready = readyOf(status)!;
      console.log(`# ${c.name}: Ready=${ready.status} reason=${ready.reason} message=${JSON.stringify(ready.message.slice(0, 300))}`);
      assert.deepEqual(t.controller.healthz(), { ok: true });
      assert.deepEqual(t.controller.readyz(), { ok: true });
      // Still working and still logging: the good credential (refreshed every 2 s) logs another refresh.
      const seen = t.logLines.length;
      await eventually('another logged refresh of the good credential', async () => t.logLines.slice(seen).some((l) => l.includes('"credential":"ClusterRegistryCredential/good"') && l.includes('credential refreshed')), 15_000);
      assert.deepEqual(unhandled.map(String), [], 'no unhandled rejection');
      assert.ok(!/[\r\n]/.test(ready.message), 'one-line message');
      for (const v of junkValues) assert.ok(!ready.message.includes(v), 'the junk value is in the condition message');
      for (const v of junkValues) assert.ok(!t.logLines.join('').includes(v), 'the junk value is in the controller log');
      const written = auths(await secretOrUndefined(core, 'src-target', `${c.name}-pull`));
      assert.equal(ready.status, 'False', `a bad source must not give Ready=True (wrote ${JSON.stringify(Object.keys(written))})`);
      assert.equal(ready.reason, 'InvalidSource');
      assert.match(ready.message, new RegExp(`Secret ${SYSTEM_NS}/${c.name}\\b`));
      for (const n of c.names) assert.ok(ready.message.includes(n), `message names ${n}`);
    });

    test(`${c.name}: regcred sync exits 2 with one clear line`, { timeout: 60_000 }, async () => {
      const file = writeConfig(yamlStringify(credentialFor(c)));
      const r = await runCli(['sync', '-f', file, '--kubeconfig', cp.kubeconfigPath]);
      const lines = r.stderr.trim().split('\n');
      console.log(`# ${c.name}: sync exit ${r.code}; stderr (${r.stderr.length} chars) ${JSON.stringify(r.stderr.slice(0, 300))}; stdout ${JSON.stringify(r.stdout.slice(0, 200))}`);
      for (const v of junkValues) assert.ok(!r.stderr.includes(v) && !r.stdout.includes(v), 'a junk value was printed');
      assert.equal(r.code, 2);
      const line = lines.find((l) => l.includes(`Secret ${SYSTEM_NS}/${c.name}`));
      assert.ok(line, 'a line names the Secret');
      for (const n of c.names) assert.ok(line.includes(n), `the line names ${n}`);
      assert.ok(lines.length <= 2, 'the error line and the "nothing written" summary only');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The controller process, started with all that junk in the cluster
// ---------------------------------------------------------------------------------------------

describe('regcred controller process with the junk in place', () => {
  test('starts, serves healthz/readyz, reconciles a new good credential, prints no junk', { timeout: 120_000 }, async () => {
    await ctl?.stop();
    ctl = undefined;
    proc = spawnController(cp.kubeconfigPath, { args: ['--log-format', 'json'] });
    const port = await eventually('the health port in the log', async () => {
      const m = /"healthPort":(\d+)/.exec(proc!.output.join(''));
      return m ? Number(m[1]) : undefined;
    });
    await eventually('readyz 200', async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200);
    await createObject({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ClusterRegistryCredential',
      metadata: { name: 'good-after' },
      spec: { provider: { static: { secretRef: { name: 'good-source' } } }, target: { secretName: 'good-after-pull', namespaces: { names: ['good-target'] }, serviceAccounts: [] } },
    });
    await eventually('good-after Ready', async () => readyOf((await getObject('ClusterRegistryCredential', 'good-after')).status ?? {})?.status === 'True', 60_000);
    // Every fuzzed object still has a condition after a restart (the first reconcile of each).
    await sleep(3000);
    assert.equal(proc.child.exitCode, null, `the controller exited:\n${proc.output.join('').slice(-3000)}`);
    assert.equal(await httpStatus(`http://127.0.0.1:${port}/healthz`), 200);
    assert.equal(await httpStatus(`http://127.0.0.1:${port}/readyz`), 200);
    const printed = proc.output.join('');
    console.log(`# controller process: ${printed.split('\n').length} log lines, still running`);
    if (process.env['REGCRED_FUZZ_DEBUG']) console.log(printed.split('\n').map((l) => `# | ${l.slice(0, 300)}`).join('\n'));
    for (const v of junkValues) assert.ok(!printed.includes(v), 'a junk value in the controller process output');
  });

  test('no junk value in any log line or CLI output (apart from the known scrub crash)', () => {
    const crash = (t: string) => t.includes('Invalid regular expression');
    const everything = [...inProcessLog, ...(proc?.output ?? []), ...allCliOutput.filter((t) => !crash(t))].join('\n');
    for (const v of junkValues) assert.ok(!everything.includes(v), `junk value printed: ${JSON.stringify(v.slice(0, 20))}`);
  });

  test('no junk value in any output at all', () => {
    const everything = [...inProcessLog, ...(proc?.output ?? []), ...allCliOutput].join('\n');
    for (const v of junkValues) assert.ok(!everything.includes(v), `junk value printed: ${JSON.stringify(v.slice(0, 20))}`);
  });

  test('the controller process keeps logging once it has read a 1 MiB source value', async () => {
    const seen = proc!.output.join('').length;
    await createObject({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ClusterRegistryCredential',
      metadata: { name: 'probe-after' },
      spec: { provider: { static: { secretRef: { name: 'good-source' } } }, target: { secretName: 'probe-after-pull', namespaces: { names: ['good-target'] }, serviceAccounts: [] } },
    });
    await eventually('probe-after Ready', async () => readyOf((await getObject('ClusterRegistryCredential', 'probe-after')).status ?? {})?.status === 'True', 30_000);
    await eventually('a log line about probe-after', async () => proc!.output.join('').slice(seen).includes('ClusterRegistryCredential/probe-after'), 10_000);
  });
});
