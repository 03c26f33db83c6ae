// Unit tests for src/kube/secrets.ts: the up-to-date check and writePullSecret against an in-memory
// fake of the CoreV1Api Secret calls (which fails like the real client: ApiException with a code).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { DOCKERCFG_TYPE, deleteManagedSecret, writePullSecret } from '../../src/kube/secrets.js';
import { DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE, isUpToDate, type DesiredPullSecret } from '../../src/kube/desired-secret.js';
import { ANNOTATION_CONTENT_HASH, ANNOTATION_EXPIRES_AT, isManagedBy, ownerLabels, type OwnerRef } from '../../src/kube/labels.js';
import { buildDockerConfigJson, sha256Hex } from '../../src/dockerconfig.js';
import { RegcredError } from '../../src/errors.js';
import { compactSecret } from '../../src/kube/slim.js';
import { PackedSecretStore } from '../../src/kube/secret-store.js';
import { updatePatch } from '../../src/kube/secret-patch.js';

const NS = 'team-a';
const OWNER: OwnerRef = { kind: 'ClusterRegistryCredential', name: 'demo' };
const JSON_V1 = buildDockerConfigJson([{ registry: 'ghcr.io', username: 'robot', password: 'password-v1' }]);
const JSON_V2 = buildDockerConfigJson([{ registry: 'ghcr.io', username: 'robot', password: 'password-v2' }]);
const EXPIRES = new Date('2030-01-01T12:00:00.000Z');
const NO_SLEEP = { retry: { sleep: async () => {} } };

function desired(over: Partial<DesiredPullSecret> = {}): DesiredPullSecret {
  return {
    name: 'demo-pull',
    owner: OWNER,
    dockerConfigJson: JSON_V1,
    expiresAt: EXPIRES,
    labels: { team: 'a' },
    annotations: { 'example.com/note': 'hello' },
    adopt: false,
    ...over,
  };
}

/** The Secret regcred writes for `d`: what an up-to-date Secret looks like. */
function secretFor(d: DesiredPullSecret, namespace = NS): V1Secret {
  const annotations: Record<string, string> = { ...d.annotations, [ANNOTATION_CONTENT_HASH]: sha256Hex(d.dockerConfigJson) };
  if (d.expiresAt) annotations[ANNOTATION_EXPIRES_AT] = d.expiresAt.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: d.name, namespace, labels: { ...d.labels, ...ownerLabels(d.owner) }, annotations },
    type: DOCKERCONFIGJSON_TYPE,
    data: { [DOCKERCONFIGJSON_KEY]: Buffer.from(d.dockerConfigJson).toString('base64') },
  };
}

function decoded(s: V1Secret | undefined): string | undefined {
  const v = s?.data?.[DOCKERCONFIGJSON_KEY];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function status(code: number, message: string): ApiException<string> {
  return new ApiException(code, message, JSON.stringify({ kind: 'Status', code, message }), {});
}

type Op = 'read' | 'create' | 'replace' | 'delete';

/** An in-memory API server for Secrets with resourceVersion conflicts, UIDs and namespaces. */
class FakeSecretsApi {
  readonly namespaces = new Set<string>([NS]);
  readonly store = new Map<string, V1Secret>();
  readonly calls: { op: Op; namespace: string; name: string; body?: V1Secret }[] = [];
  /** Errors thrown by the next calls of an operation, in turn, before it does anything. */
  readonly failures: Partial<Record<Op, ApiException<string>[]>> = {};
  /** Runs before an operation is handled: simulates another writer acting in between. */
  readonly before: Partial<Record<Op, (() => void)[]>> = {};
  private rv = 100;
  private uid = 0;

  put(secret: V1Secret): V1Secret {
    const s = structuredClone(secret);
    s.metadata = { ...s.metadata, uid: s.metadata?.uid ?? `uid-${++this.uid}`, resourceVersion: String(++this.rv) };
    this.store.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    return structuredClone(s);
  }
  get(namespace: string, name: string): V1Secret | undefined {
    return this.store.get(`${namespace}/${name}`);
  }
  count(op: Op): number {
    return this.calls.filter((c) => c.op === op).length;
  }
  private enter(op: Op, namespace: string, name: string, body?: V1Secret): void {
    this.calls.push({ op, namespace, name, ...(body ? { body: structuredClone(body) } : {}) });
    this.before[op]?.shift()?.();
    const err = this.failures[op]?.shift();
    if (err) throw err;
  }

  async readNamespacedSecret(p: { namespace: string; name: string }): Promise<V1Secret> {
    this.enter('read', p.namespace, p.name);
    const s = this.get(p.namespace, p.name);
    if (!s) throw status(404, `secrets "${p.name}" not found`);
    return structuredClone(s);
  }
  async createNamespacedSecret(p: { namespace: string; body: V1Secret }): Promise<V1Secret> {
    const name = p.body.metadata?.name ?? '';
    this.enter('create', p.namespace, name, p.body);
    if (!this.namespaces.has(p.namespace)) throw status(404, `namespaces "${p.namespace}" not found`);
    if (this.get(p.namespace, name)) throw status(409, `secrets "${name}" already exists`);
    if (p.body.metadata?.resourceVersion) throw status(500, 'resourceVersion should not be set on objects to be created');
    return this.put({ ...p.body, metadata: { ...p.body.metadata, namespace: p.namespace, uid: undefined } });
  }
  async replaceNamespacedSecret(p: { namespace: string; name: string; body: V1Secret }): Promise<V1Secret> {
    this.enter('replace', p.namespace, p.name, p.body);
    const cur = this.get(p.namespace, p.name);
    if (!cur) throw status(404, `secrets "${p.name}" not found`);
    if (p.body.metadata?.resourceVersion !== cur.metadata?.resourceVersion) {
      throw status(409, 'Operation cannot be fulfilled on secrets: the object has been modified; please apply your changes to the latest version and try again');
    }
    if (p.body.type !== cur.type) throw status(422, 'field is immutable');
    return this.put({ ...p.body, metadata: { ...p.body.metadata, uid: cur.metadata?.uid } });
  }
  async deleteNamespacedSecret(p: { namespace: string; name: string; body?: { preconditions?: { uid?: string } } }): Promise<object> {
    this.enter('delete', p.namespace, p.name);
    const cur = this.get(p.namespace, p.name);
    if (!cur) throw status(404, `secrets "${p.name}" not found`);
    const uid = p.body?.preconditions?.uid;
    if (uid !== undefined && uid !== cur.metadata?.uid) throw status(409, 'Precondition failed: UID in precondition does not match');
    this.store.delete(`${p.namespace}/${p.name}`);
    return { kind: 'Status', status: 'Success' };
  }

  get core(): CoreV1Api {
    return this as unknown as CoreV1Api;
  }
}

function writes() {
  const seen: [string, string][] = [];
  return { seen, onWrite: (op: string, ns: string) => void seen.push([op, ns]) };
}

describe('isUpToDate', () => {
  test('true for exactly the desired Secret', () => {
    const d = desired();
    assert.equal(isUpToDate(secretFor(d), d), true);
  });

  test('true when others added labels and annotations of their own', () => {
    const d = desired();
    const s = secretFor(d);
    s.metadata!.labels!['other'] = 'x';
    s.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration'] = '{}';
    assert.equal(isUpToDate(s, d), true);
  });

  test('false when the data bytes differ but the content-hash annotation is unchanged', () => {
    const d = desired();
    const s = secretFor(d);
    s.data = { [DOCKERCONFIGJSON_KEY]: Buffer.from(JSON_V2).toString('base64') };
    assert.equal(s.metadata!.annotations![ANNOTATION_CONTENT_HASH], sha256Hex(JSON_V1));
    assert.equal(isUpToDate(s, d), false);
  });

  test('false when the hash annotation is stale even though the bytes match', () => {
    const d = desired();
    const s = secretFor(d);
    s.metadata!.annotations![ANNOTATION_CONTENT_HASH] = sha256Hex(JSON_V2);
    assert.equal(isUpToDate(s, d), false);
  });

  for (const key of ['team', 'app.kubernetes.io/managed-by', 'regcred.dev/owner-name']) {
    test(`false when the label ${key} is missing`, () => {
      const d = desired();
      const s = secretFor(d);
      delete s.metadata!.labels![key];
      assert.equal(isUpToDate(s, d), false);
    });
  }

  test('false when a desired annotation is missing', () => {
    const d = desired();
    const s = secretFor(d);
    delete s.metadata!.annotations!['example.com/note'];
    assert.equal(isUpToDate(s, d), false);
  });

  test('false when the type differs', () => {
    const d = desired();
    assert.equal(isUpToDate({ ...secretFor(d), type: 'Opaque' }, d), false);
    assert.equal(isUpToDate({ ...secretFor(d), type: undefined }, d), false);
  });

  test('false when expires-at differs', () => {
    const d = desired();
    const s = secretFor(d);
    s.metadata!.annotations![ANNOTATION_EXPIRES_AT] = '2029-01-01T00:00:00.000Z';
    assert.equal(isUpToDate(s, d), false);
  });

  test('false when expires-at is set but the credential no longer expires', () => {
    const s = secretFor(desired());
    assert.equal(isUpToDate(s, desired({ expiresAt: undefined })), false);
  });

  test('false with an extra data key or without data', () => {
    const d = desired();
    const extra = secretFor(d);
    extra.data!['other'] = 'eA==';
    assert.equal(isUpToDate(extra, d), false);
    assert.equal(isUpToDate({ ...secretFor(d), data: undefined }, d), false);
  });

  test('the slim form (no data, a digest) answers the same: up to date, and an edit by hand is seen', () => {
    const d = desired();
    const slim = compactSecret(secretFor(d));
    assert.equal(slim.data, undefined);
    assert.equal(isUpToDate(slim, d), true);
    const edited = secretFor(d);
    edited.data = { [DOCKERCONFIGJSON_KEY]: Buffer.from(JSON_V2).toString('base64') };
    assert.equal(isUpToDate(compactSecret(edited), d), false, 'data changed, annotation kept');
    const extra = secretFor(d);
    extra.data!['other'] = 'eA==';
    assert.equal(isUpToDate(compactSecret(extra), d), false, 'an extra key');
    assert.equal(isUpToDate(compactSecret({ ...secretFor(d), data: undefined }), d), false, 'no data');
  });
});

describe('writePullSecret', () => {
  test('creates the Secret when it does not exist', async () => {
    const api = new FakeSecretsApi();
    const w = writes();
    const result = await writePullSecret(api.core, NS, desired(), undefined, { ...NO_SLEEP, onWrite: w.onWrite });
    assert.deepEqual(result, { outcome: 'created' });
    assert.deepEqual(w.seen, [['create', NS]]);
    const s = api.get(NS, 'demo-pull');
    assert.equal(s?.type, DOCKERCONFIGJSON_TYPE);
    assert.deepEqual(Object.keys(s?.data ?? {}), [DOCKERCONFIGJSON_KEY]);
    assert.equal(decoded(s), JSON_V1);
    assert.deepEqual(s?.metadata?.labels, { team: 'a', ...ownerLabels(OWNER) });
    assert.deepEqual(s?.metadata?.annotations, {
      'example.com/note': 'hello',
      [ANNOTATION_CONTENT_HASH]: sha256Hex(JSON_V1),
      [ANNOTATION_EXPIRES_AT]: '2030-01-01T12:00:00.000Z',
    });
    assert.equal(isUpToDate(s!, desired()), true);
  });

  test('existing = null skips the read', async () => {
    const api = new FakeSecretsApi();
    assert.equal((await writePullSecret(api.core, NS, desired(), null, NO_SLEEP)).outcome, 'created');
    assert.equal(api.count('read'), 0);
  });

  test('makes no write when the Secret is already up to date', async () => {
    const api = new FakeSecretsApi();
    api.put(secretFor(desired()));
    const w = writes();
    const result = await writePullSecret(api.core, NS, desired(), undefined, { ...NO_SLEEP, onWrite: w.onWrite });
    assert.deepEqual(result, { outcome: 'unchanged' });
    assert.deepEqual(w.seen, []);
    assert.deepEqual(
      api.calls.map((c) => c.op),
      ['read'],
    );
  });

  test('makes no call at all when the caller passes the up-to-date Secret', async () => {
    const api = new FakeSecretsApi();
    const existing = api.put(secretFor(desired()));
    assert.deepEqual(await writePullSecret(api.core, NS, desired(), existing, NO_SLEEP), { outcome: 'unchanged' });
    assert.deepEqual(api.calls, []);
  });

  test('updates its own Secret in place when the credential changed', async () => {
    const api = new FakeSecretsApi();
    const before = api.put(secretFor(desired()));
    const w = writes();
    const next = desired({ dockerConfigJson: JSON_V2 });
    const result = await writePullSecret(api.core, NS, next, undefined, { ...NO_SLEEP, onWrite: w.onWrite });
    assert.deepEqual(result, { outcome: 'updated' });
    assert.deepEqual(w.seen, [['update', NS]]);
    assert.equal(api.count('delete'), 0);
    const after = api.get(NS, 'demo-pull');
    assert.equal(after?.metadata?.uid, before.metadata?.uid);
    assert.equal(decoded(after), JSON_V2);
    assert.equal(after?.metadata?.annotations?.[ANNOTATION_CONTENT_HASH], sha256Hex(JSON_V2));
    // The PUT carried the resourceVersion that was read (optimistic concurrency).
    assert.equal(api.calls.find((c) => c.op === 'replace')?.body?.metadata?.resourceVersion, before.metadata?.resourceVersion);
  });

  test('an update drops expires-at when the credential no longer expires', async () => {
    const api = new FakeSecretsApi();
    api.put(secretFor(desired()));
    await writePullSecret(api.core, NS, desired({ expiresAt: undefined }), undefined, NO_SLEEP);
    const after = api.get(NS, 'demo-pull');
    assert.equal(after?.metadata?.annotations?.[ANNOTATION_EXPIRES_AT], undefined);
    assert.equal(isUpToDate(after!, desired({ expiresAt: undefined })), true);
  });

  test('a 409 on create (created meanwhile) re-reads; an unmanaged Secret is a SecretConflict', async () => {
    const api = new FakeSecretsApi();
    api.before.create = [
      () => {
        api.put({ metadata: { name: 'demo-pull', namespace: NS }, type: 'Opaque', data: { token: 'eA==' } });
      },
    ];
    await assert.rejects(writePullSecret(api.core, NS, desired(), undefined, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'SecretConflict');
      assert.equal(err.retryable, false);
      assert.match(err.message, /^Secret team-a\/demo-pull exists and is not managed by regcred; set target\.adopt: true/);
      return true;
    });
    assert.deepEqual(
      api.calls.map((c) => c.op),
      ['read', 'create', 'read'],
    );
    assert.equal(api.get(NS, 'demo-pull')?.type, 'Opaque'); // untouched
  });

  test('a Secret managed by another regcred owner is a SecretConflict naming that owner', async () => {
    const api = new FakeSecretsApi();
    const other = desired({ owner: { kind: 'RegistryCredential', name: 'demo', namespace: NS } });
    api.put(secretFor(other));
    await assert.rejects(writePullSecret(api.core, NS, desired({ dockerConfigJson: JSON_V2 }), null, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'SecretConflict');
      assert.match(err.message, /is managed by RegistryCredential\/team-a\/demo; it stays with that credential/);
      return true;
    });
    assert.equal(decoded(api.get(NS, 'demo-pull')), JSON_V1);
  });

  test('adopt takes over an unmanaged dockerconfigjson Secret in place, keeping foreign labels', async () => {
    const api = new FakeSecretsApi();
    const before = api.put({
      metadata: { name: 'demo-pull', namespace: NS, labels: { 'owned-by': 'someone' }, annotations: { keep: 'me' } },
      type: DOCKERCONFIGJSON_TYPE,
      data: { [DOCKERCONFIGJSON_KEY]: Buffer.from('{"auths":{}}').toString('base64') },
    });
    const w = writes();
    const d = desired({ adopt: true });
    const result = await writePullSecret(api.core, NS, d, undefined, { ...NO_SLEEP, onWrite: w.onWrite });
    assert.deepEqual(result, { outcome: 'updated', adopted: true });
    assert.deepEqual(w.seen, [['update', NS]]);
    assert.equal(api.count('delete'), 0);
    const after = api.get(NS, 'demo-pull')!;
    assert.equal(after.metadata?.uid, before.metadata?.uid);
    assert.equal(decoded(after), JSON_V1);
    assert.equal(after.metadata?.labels?.['owned-by'], 'someone');
    assert.equal(after.metadata?.annotations?.['keep'], 'me');
    assert.equal(isManagedBy(after.metadata?.labels, OWNER), true);
    assert.equal(isUpToDate(after, d), true);
  });

  test('adopt never takes a Secret another regcred credential owns: SecretConflict naming it, nothing written', async () => {
    const api = new FakeSecretsApi();
    const theirs = api.put(secretFor(desired({ owner: { kind: 'RegistryCredential', name: 'other', namespace: NS } })));
    const w = writes();
    await assert.rejects(writePullSecret(api.core, NS, desired({ adopt: true, dockerConfigJson: JSON_V2 }), undefined, { ...NO_SLEEP, onWrite: w.onWrite }), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'SecretConflict');
      assert.match(err.message, /managed by RegistryCredential\/team-a\/other; it stays with that credential/);
      assert.doesNotMatch(err.message, /password/);
      return true;
    });
    assert.deepEqual(w.seen, []);
    assert.deepEqual(api.get(NS, 'demo-pull'), theirs);
  });

  for (const type of ['kubernetes.io/tls', 'Opaque', 'kubernetes.io/service-account-token', undefined]) {
    test(`adopt refuses a Secret of type ${type ?? '(none)'} and leaves it byte for byte`, async () => {
      const api = new FakeSecretsApi();
      const before = api.put({ metadata: { name: 'demo-pull', namespace: NS }, ...(type ? { type } : {}), data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } });
      const w = writes();
      await assert.rejects(writePullSecret(api.core, NS, desired({ adopt: true }), undefined, { ...NO_SLEEP, onWrite: w.onWrite }), (err: unknown) => {
        assert.ok(err instanceof RegcredError);
        assert.equal(err.code, 'SecretConflict');
        assert.match(err.message, new RegExp(`is of type ${type ?? 'Opaque'}; only kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`));
        return true;
      });
      assert.deepEqual(w.seen, []);
      assert.deepEqual(api.get(NS, 'demo-pull'), before);
    });
  }

  test('owner labels on a Secret of another type do not make it writable', async () => {
    const api = new FakeSecretsApi();
    const before = api.put({ ...secretFor(desired()), type: 'kubernetes.io/tls' });
    await assert.rejects(writePullSecret(api.core, NS, desired({ dockerConfigJson: JSON_V2 }), undefined, NO_SLEEP), /is of type kubernetes.io\/tls/);
    assert.deepEqual(api.get(NS, 'demo-pull'), before);
  });

  test('adopting a kubernetes.io/dockercfg Secret replaces it (the type is immutable) and reports the adoption', async () => {
    const api = new FakeSecretsApi();
    const before = api.put({ metadata: { name: 'demo-pull', namespace: NS }, type: DOCKERCFG_TYPE, data: { '.dockercfg': 'e30=' } });
    const w = writes();
    const result = await writePullSecret(api.core, NS, desired({ adopt: true }), undefined, { ...NO_SLEEP, onWrite: w.onWrite });
    assert.deepEqual(w.seen, [
      ['delete', NS],
      ['create', NS],
    ]);
    const after = api.get(NS, 'demo-pull')!;
    assert.equal(after.type, DOCKERCONFIGJSON_TYPE);
    assert.notEqual(after.metadata?.uid, before.metadata?.uid);
    assert.equal(isUpToDate(after, desired({ adopt: true })), true);
    // An existing Secret was taken over because adopt: true; callers print "adopted" from this flag.
    assert.equal(result.adopted, true, `result was ${JSON.stringify(result)}`);
  });

  test('a 409 on replace re-reads and retries with the fresh resourceVersion, keeping the other writer\'s change', async () => {
    const api = new FakeSecretsApi();
    api.put(secretFor(desired()));
    api.before.replace = [
      () => {
        // Someone else edits the Secret between our read and our PUT.
        const cur = api.get(NS, 'demo-pull')!;
        api.put({ ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata?.annotations, 'edited-by': 'other' } } });
      },
    ];
    const w = writes();
    const result = await writePullSecret(api.core, NS, desired({ dockerConfigJson: JSON_V2 }), undefined, { ...NO_SLEEP, onWrite: w.onWrite });
    assert.deepEqual(result, { outcome: 'updated' });
    assert.deepEqual(
      api.calls.map((c) => c.op),
      ['read', 'replace', 'read', 'replace'],
    );
    assert.deepEqual(w.seen, [['update', NS]]);
    const after = api.get(NS, 'demo-pull')!;
    assert.equal(decoded(after), JSON_V2);
    assert.equal(after.metadata?.annotations?.['edited-by'], 'other');
  });

  test('a 409 on replace whose re-read shows the Secret up to date makes no further write', async () => {
    const api = new FakeSecretsApi();
    api.put(secretFor(desired()));
    api.before.replace = [() => void api.put(secretFor(desired({ dockerConfigJson: JSON_V2 })))];
    const result = await writePullSecret(api.core, NS, desired({ dockerConfigJson: JSON_V2 }), undefined, NO_SLEEP);
    assert.deepEqual(result, { outcome: 'unchanged' });
    assert.equal(api.count('replace'), 1);
  });

  test('a Secret deleted before the PUT (404) is created again', async () => {
    const api = new FakeSecretsApi();
    api.put(secretFor(desired()));
    api.before.replace = [() => void api.store.delete(`${NS}/demo-pull`)];
    const result = await writePullSecret(api.core, NS, desired({ dockerConfigJson: JSON_V2 }), undefined, NO_SLEEP);
    assert.deepEqual(result, { outcome: 'created' });
    assert.equal(decoded(api.get(NS, 'demo-pull')), JSON_V2);
  });

  test('gives up with a retryable ApiError when the Secret keeps changing', async () => {
    const api = new FakeSecretsApi();
    api.put(secretFor(desired()));
    api.failures.replace = [status(409, 'modified'), status(409, 'modified'), status(409, 'modified'), status(409, 'modified')];
    await assert.rejects(writePullSecret(api.core, NS, desired({ dockerConfigJson: JSON_V2 }), undefined, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ApiError');
      assert.equal(err.retryable, true);
      assert.match(err.message, /kept changing/);
      return true;
    });
    assert.equal(api.count('replace'), 3);
  });

  test('a 404 on create means the namespace does not exist: NamespaceNotFound', async () => {
    const api = new FakeSecretsApi();
    await assert.rejects(writePullSecret(api.core, 'gone', desired(), undefined, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'NamespaceNotFound');
      assert.equal(err.message, 'namespace "gone" not found');
      assert.equal(err.retryable, false);
      return true;
    });
  });

  test('a 403 on create is Forbidden and names the Secret', async () => {
    const api = new FakeSecretsApi();
    api.failures.create = [status(403, 'secrets is forbidden: User "u" cannot create resource "secrets"')];
    await assert.rejects(writePullSecret(api.core, NS, desired(), undefined, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'Forbidden');
      assert.match(err.message, /^cannot create Secret team-a\/demo-pull: secrets is forbidden/);
      return true;
    });
  });

  test('5xx on create are retried through the injected sleep', async () => {
    const api = new FakeSecretsApi();
    const delays: number[] = [];
    api.failures.create = [status(503, 'unavailable'), status(500, 'oops')];
    const result = await writePullSecret(api.core, NS, desired(), undefined, { retry: { sleep: async (ms) => void delays.push(ms) } });
    assert.equal(result.outcome, 'created');
    assert.equal(api.count('create'), 3);
    assert.equal(delays.length, 2);
  });

  test('a failing read is reported as an error, not taken as "absent"', async () => {
    const api = new FakeSecretsApi();
    api.failures.read = [status(403, 'secrets "demo-pull" is forbidden')];
    await assert.rejects(writePullSecret(api.core, NS, desired(), undefined, NO_SLEEP), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'Forbidden');
      return true;
    });
    assert.equal(api.count('create'), 0);
  });
});

describe('updatePatch (a compact cached form is updated by JSON patch)', () => {
  const cached = (over: Partial<V1Secret['metadata']> = {}): V1Secret => ({
    metadata: { name: 'demo-pull', namespace: NS, resourceVersion: '41', labels: { ...ownerLabels(OWNER), 'regcred.dev/owner-namespace': 'stale', keep: 'me' }, annotations: { [ANNOTATION_EXPIRES_AT]: 'x', other: 'y' }, ...over },
    type: DOCKERCONFIGJSON_TYPE,
  });
  const meta = { name: 'demo-pull', namespace: NS, labels: { ...ownerLabels(OWNER), team: 'a' }, annotations: { [ANNOTATION_CONTENT_HASH]: 'h' } };

  test('guards the version, sets the data whole, adds ours, removes stale owner labels and the expiry, keeps the rest', () => {
    const ops = updatePatch(cached(), meta, { [DOCKERCONFIGJSON_KEY]: 'ZGF0YQ==' }, undefined);
    assert.deepEqual(ops[0], { op: 'test', path: '/metadata/resourceVersion', value: '41' });
    assert.deepEqual(ops[1], { op: 'add', path: '/data', value: { [DOCKERCONFIGJSON_KEY]: 'ZGF0YQ==' } });
    assert.ok(ops.some((o) => JSON.stringify(o) === JSON.stringify({ op: 'remove', path: '/metadata/labels/regcred.dev~1owner-namespace' })));
    assert.ok(ops.some((o) => JSON.stringify(o) === JSON.stringify({ op: 'add', path: '/metadata/labels/team', value: 'a' })));
    assert.ok(ops.some((o) => JSON.stringify(o) === JSON.stringify({ op: 'add', path: '/metadata/annotations/regcred.dev~1content-hash', value: 'h' })));
    assert.ok(ops.some((o) => JSON.stringify(o) === JSON.stringify({ op: 'remove', path: '/metadata/annotations/regcred.dev~1expires-at' })));
    assert.ok(!JSON.stringify(ops).includes('keep'), "others' labels are not touched");
    assert.ok(!JSON.stringify(ops).includes('"other"'));
  });

  test('labels or annotations absent: added whole; an expiring credential keeps its annotation', () => {
    const ops = updatePatch(cached({ labels: undefined, annotations: undefined }), meta, { [DOCKERCONFIGJSON_KEY]: 'eA==' }, EXPIRES);
    assert.deepEqual(ops.slice(2), [
      { op: 'add', path: '/metadata/labels', value: meta.labels },
      { op: 'add', path: '/metadata/annotations', value: meta.annotations },
    ]);
  });
});

describe('the cache keeps no uid: deletes read the Secret first', () => {
  /** A Secret as the controller's cache hands it out: compact, packed, no uid. */
  function cached(secret: V1Secret): V1Secret {
    const store = new PackedSecretStore();
    store.set(`${secret.metadata?.namespace}/${secret.metadata?.name}`, compactSecret(secret));
    const out = store.get(`${secret.metadata?.namespace}/${secret.metadata?.name}`)!;
    assert.equal(out.metadata?.uid, undefined);
    return out;
  }

  test('deleteManagedSecret deletes the Secret it read, guarded by that uid', async () => {
    const api = new FakeSecretsApi();
    const s = api.put(secretFor(desired()));
    assert.equal(await deleteManagedSecret(api.core, cached(s), NO_SLEEP), true);
    assert.equal(api.get(NS, 'demo-pull'), undefined);
    assert.deepEqual(api.calls.map((c) => c.op), ['read', 'delete']);
  });

  test('deleteManagedSecret leaves a Secret that another owner\'s labels name now, and one already gone', async () => {
    const api = new FakeSecretsApi();
    const s = cached(api.put(secretFor(desired())));
    api.put(secretFor(desired({ owner: { kind: 'ClusterRegistryCredential', name: 'other' } })));
    assert.equal(await deleteManagedSecret(api.core, s, NO_SLEEP), false);
    assert.ok(api.get(NS, 'demo-pull'), 'not ours any more: kept');
    api.store.clear();
    assert.equal(await deleteManagedSecret(api.core, s, NO_SLEEP), false);
    assert.equal(api.count('delete'), 0);
  });

  test('replacing an adopted kubernetes.io/dockercfg Secret known from the cache reads it for its uid', async () => {
    const api = new FakeSecretsApi();
    const before = api.put({ metadata: { name: 'demo-pull', namespace: NS }, type: DOCKERCFG_TYPE, data: { '.dockercfg': 'e30=' } });
    await writePullSecret(api.core, NS, desired({ adopt: true }), cached(before), NO_SLEEP);
    assert.deepEqual(api.calls.map((c) => c.op), ['read', 'delete', 'create']);
    assert.equal(api.get(NS, 'demo-pull')?.type, DOCKERCONFIGJSON_TYPE);
  });
});
