// Unit tests for src/kube/serviceaccounts.ts: the guarded JSON patch and attachPullSecret against an
// in-memory fake of the CoreV1Api ServiceAccount calls that applies JSON patches like the API server.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type CoreV1Api, type V1ServiceAccount } from '@kubernetes/client-node';
import { addPullSecretPatch, attachPullSecret, hasPullSecret } from '../../src/kube/serviceaccounts.js';
import { RegcredError } from '../../src/errors.js';

const NS = 'team-a';
const SECRET = 'demo-pull';
const NO_SLEEP = { retry: { sleep: async () => {} } };

function status(code: number, message: string): ApiException<string> {
  return new ApiException(code, message, JSON.stringify({ kind: 'Status', code, message }), {});
}

interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

type Op = 'read' | 'list' | 'patch';

class FakeServiceAccountsApi {
  readonly store = new Map<string, V1ServiceAccount>();
  readonly calls: { op: Op; namespace: string; name?: string; body?: PatchOp[] }[] = [];
  readonly failures: Partial<Record<Op, ApiException<string>[]>> = {};
  readonly before: Partial<Record<Op, (() => void)[]>> = {};
  private rv = 10;

  put(namespace: string, name: string, imagePullSecrets?: V1ServiceAccount['imagePullSecrets']): V1ServiceAccount {
    const sa: V1ServiceAccount = { metadata: { name, namespace, resourceVersion: String(++this.rv) }, ...(imagePullSecrets ? { imagePullSecrets } : {}) };
    this.store.set(`${namespace}/${name}`, sa);
    return structuredClone(sa);
  }
  get(namespace: string, name: string): V1ServiceAccount | undefined {
    return this.store.get(`${namespace}/${name}`);
  }
  count(op: Op): number {
    return this.calls.filter((c) => c.op === op).length;
  }
  private enter(op: Op, namespace: string, name?: string, body?: PatchOp[]): void {
    this.calls.push({ op, namespace, ...(name !== undefined ? { name } : {}), ...(body ? { body: structuredClone(body) } : {}) });
    this.before[op]?.shift()?.();
    const err = this.failures[op]?.shift();
    if (err) throw err;
  }

  async readNamespacedServiceAccount(p: { namespace: string; name: string }): Promise<V1ServiceAccount> {
    this.enter('read', p.namespace, p.name);
    const sa = this.get(p.namespace, p.name);
    if (!sa) throw status(404, `serviceaccounts "${p.name}" not found`);
    return structuredClone(sa);
  }
  async listNamespacedServiceAccount(p: { namespace: string }): Promise<{ items: V1ServiceAccount[] }> {
    this.enter('list', p.namespace);
    const items = [...this.store.values()].filter((sa) => sa.metadata?.namespace === p.namespace).map((sa) => structuredClone(sa));
    return { items };
  }
  /** Applies the JSON patch the way the API server does: all operations or none. */
  async patchNamespacedServiceAccount(p: { namespace: string; name: string; body: PatchOp[] }): Promise<V1ServiceAccount> {
    this.enter('patch', p.namespace, p.name, p.body);
    const cur = this.get(p.namespace, p.name);
    if (!cur) throw status(404, `serviceaccounts "${p.name}" not found`);
    const next = structuredClone(cur);
    for (const op of p.body) {
      if (op.op === 'test' && op.path === '/metadata/resourceVersion') {
        if (op.value !== cur.metadata?.resourceVersion) throw status(422, 'the server rejected our request: test operation failed');
      } else if (op.op === 'add' && op.path === '/imagePullSecrets') {
        next.imagePullSecrets = structuredClone(op.value as { name: string }[]);
      } else if (op.op === 'add' && op.path === '/imagePullSecrets/-') {
        if (!next.imagePullSecrets) throw status(422, 'add operation does not apply: doc is missing path');
        next.imagePullSecrets.push(structuredClone(op.value as { name: string }));
      } else {
        throw status(422, `unsupported patch op ${op.op} ${op.path}`);
      }
    }
    next.metadata = { ...next.metadata, resourceVersion: String(++this.rv) };
    this.store.set(`${p.namespace}/${p.name}`, next);
    return structuredClone(next);
  }

  get core(): CoreV1Api {
    return this as unknown as CoreV1Api;
  }
}

const names = (sa: V1ServiceAccount | undefined) => (sa?.imagePullSecrets ?? []).map((r) => r.name);

describe('addPullSecretPatch', () => {
  test('adds the whole array when the SA has no imagePullSecrets, guarded by resourceVersion', () => {
    assert.deepEqual(addPullSecretPatch({ metadata: { name: 'default', resourceVersion: '42' } }, SECRET), [
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'add', path: '/imagePullSecrets', value: [{ name: SECRET }] },
    ]);
  });

  test('treats an empty list like an absent one', () => {
    assert.deepEqual(addPullSecretPatch({ metadata: { resourceVersion: '7' }, imagePullSecrets: [] }, SECRET), [
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'add', path: '/imagePullSecrets', value: [{ name: SECRET }] },
    ]);
  });

  test('appends to an existing list, never replacing it', () => {
    assert.deepEqual(addPullSecretPatch({ metadata: { resourceVersion: '8' }, imagePullSecrets: [{ name: 'other' }] }, SECRET), [
      { op: 'test', path: '/metadata/resourceVersion', value: '8' },
      { op: 'add', path: '/imagePullSecrets/-', value: { name: SECRET } },
    ]);
  });

  test('the guard is always the first operation', () => {
    for (const sa of [{ metadata: { resourceVersion: '1' } }, { metadata: { resourceVersion: '2' }, imagePullSecrets: [{ name: 'x' }] }]) {
      const patch = addPullSecretPatch(sa, SECRET) as PatchOp[];
      assert.equal(patch[0]?.op, 'test');
      assert.equal(patch.length, 2);
    }
  });
});

describe('hasPullSecret', () => {
  test('looks for a reference by name', () => {
    assert.equal(hasPullSecret({ imagePullSecrets: [{ name: 'a' }, { name: SECRET }] }, SECRET), true);
    assert.equal(hasPullSecret({ imagePullSecrets: [{ name: 'a' }] }, SECRET), false);
    assert.equal(hasPullSecret({}, SECRET), false);
  });
});

describe('attachPullSecret', () => {
  test('adds the reference to a named SA without one', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    const seen: string[] = [];
    const r = await attachPullSecret(api.core, NS, ['default'], SECRET, { ...NO_SLEEP, onWrite: (op, ns) => void seen.push(`${op} ${ns}`) });
    assert.deepEqual(r, { patched: ['default'], unchanged: [], missing: [] });
    assert.deepEqual(names(api.get(NS, 'default')), [SECRET]);
    assert.deepEqual(seen, [`update ${NS}`]);
  });

  test('keeps the other entries and appends once', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'builder', [{ name: 'first' }, { name: 'second' }]);
    const r = await attachPullSecret(api.core, NS, ['builder'], SECRET, NO_SLEEP);
    assert.deepEqual(r.patched, ['builder']);
    assert.deepEqual(names(api.get(NS, 'builder')), ['first', 'second', SECRET]);
    // A second run finds it there.
    const again = await attachPullSecret(api.core, NS, ['builder'], SECRET, NO_SLEEP);
    assert.deepEqual(again, { patched: [], unchanged: ['builder'], missing: [] });
    assert.deepEqual(names(api.get(NS, 'builder')), ['first', 'second', SECRET]);
  });

  test('an SA that already references the Secret is unchanged and not patched', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default', [{ name: SECRET }]);
    const seen: string[] = [];
    const r = await attachPullSecret(api.core, NS, ['default'], SECRET, { ...NO_SLEEP, onWrite: (op) => void seen.push(op) });
    assert.deepEqual(r, { patched: [], unchanged: ['default'], missing: [] });
    assert.equal(api.count('patch'), 0);
    assert.deepEqual(seen, []);
  });

  test('a named SA that does not exist is reported in `missing`, the others are still patched', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    const r = await attachPullSecret(api.core, NS, ['ghost', 'default'], SECRET, NO_SLEEP);
    assert.deepEqual(r, { patched: ['default'], unchanged: [], missing: ['ghost'] });
  });

  test('a 422 from the resourceVersion test re-reads the SA and retries, keeping the concurrent entry', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default', [{ name: 'existing' }]);
    api.before.patch = [
      () => {
        // Another writer appends its own reference between our read and our patch.
        const cur = api.get(NS, 'default')!;
        api.put(NS, 'default', [...(cur.imagePullSecrets ?? []), { name: 'concurrent' }]);
      },
    ];
    const r = await attachPullSecret(api.core, NS, ['default'], SECRET, NO_SLEEP);
    assert.deepEqual(r, { patched: ['default'], unchanged: [], missing: [] });
    assert.deepEqual(
      api.calls.map((c) => c.op),
      ['read', 'patch', 'read', 'patch'],
    );
    assert.deepEqual(names(api.get(NS, 'default')), ['existing', 'concurrent', SECRET]);
    // The retry is guarded by the fresh resourceVersion.
    const [first, second] = api.calls.filter((c) => c.op === 'patch');
    assert.notEqual(first?.body?.[0]?.value, second?.body?.[0]?.value);
  });

  test('a retry that finds the reference added meanwhile reports unchanged', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    api.before.patch = [() => void api.put(NS, 'default', [{ name: SECRET }])];
    const r = await attachPullSecret(api.core, NS, ['default'], SECRET, NO_SLEEP);
    assert.deepEqual(r, { patched: [], unchanged: ['default'], missing: [] });
    assert.deepEqual(names(api.get(NS, 'default')), [SECRET]);
  });

  test('an SA deleted between read and patch is reported missing', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    api.before.patch = [() => void api.store.delete(`${NS}/default`)];
    const r = await attachPullSecret(api.core, NS, ['default'], SECRET, NO_SLEEP);
    assert.deepEqual(r, { patched: [], unchanged: [], missing: ['default'] });
  });

  test('gives up after repeated conflicts with an error naming the SA', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    api.failures.patch = Array.from({ length: 10 }, () => status(422, 'test operation failed'));
    await assert.rejects(attachPullSecret(api.core, NS, ['default'], SECRET, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ApiError');
      assert.match(err.message, /^cannot patch ServiceAccount team-a\/default: /);
      return true;
    });
    assert.equal(api.count('patch'), 4);
  });

  test('"*" lists every SA of the namespace and patches those without the reference', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    api.put(NS, 'builder', [{ name: SECRET }]);
    api.put(NS, 'deployer', [{ name: 'other' }]);
    api.put('elsewhere', 'default');
    const r = await attachPullSecret(api.core, NS, ['*'], SECRET, NO_SLEEP);
    assert.deepEqual([...r.patched].sort(), ['default', 'deployer']);
    assert.deepEqual(r.unchanged, ['builder']);
    assert.deepEqual(r.missing, []);
    assert.equal(api.count('list'), 1);
    assert.equal(api.count('read'), 0);
    assert.deepEqual(names(api.get(NS, 'deployer')), ['other', SECRET]);
    assert.deepEqual(names(api.get('elsewhere', 'default')), []);
  });

  test('an empty list does nothing and calls nothing', async () => {
    const api = new FakeServiceAccountsApi();
    api.put(NS, 'default');
    assert.deepEqual(await attachPullSecret(api.core, NS, [], SECRET, NO_SLEEP), { patched: [], unchanged: [], missing: [] });
    assert.deepEqual(api.calls, []);
  });

  test('a forbidden list is reported as Forbidden', async () => {
    const api = new FakeServiceAccountsApi();
    api.failures.list = [status(403, 'serviceaccounts is forbidden')];
    await assert.rejects(attachPullSecret(api.core, NS, ['*'], SECRET, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'Forbidden');
      assert.match(err.message, /^cannot list ServiceAccounts in team-a: /);
      return true;
    });
  });
});
