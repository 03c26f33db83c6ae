import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { credentialObject, type CredentialObject } from '../../config/schema.js';
import type { InformerEvent, KubeObject } from '../../kube/informer.js';
import { isUpToDate, type DesiredPullSecret } from '../../kube/desired-secret.js';
import { hasPullSecret } from '../../kube/serviceaccounts.js';
import { desiredPullSecret, type MintedCredential } from '../reconcile.js';
import { credentialKey, type OwnedSecretIndex } from '../secret-index.js';
import { labelKeyOf, secretNameSharers, specKeyOf, targetsNamespace } from './claims.js';
import type { NewNamespaceWriter } from './new-namespace.js';
import { FINALIZER, type RawCredential } from './object.js';
import type { KeyQueue, NamespaceReader, OwnedSecretsReader, SpecMap, Specs } from './shared.js';

// The watches that requeue credentials, each an EventSource: what changed → which credentials to
// run again. The mapping of each event to keys is a pure function below; a source only updates the
// index it keeps and hands the keys to the queue. Another watch is one more EventSource added to the
// list the manager registers.

/**
 * The credentials one event concerns: `now` queued at once, `rateLimited` within each one's rate
 * limit (with `stillNeeded`: weighed after a run under way, see KeyQueue).
 */
export interface Requeue {
  now?: readonly string[];
  rateLimited?: readonly (string | { key: string; stillNeeded: () => boolean })[];
}

/** A watch whose events requeue credentials; the manager registers every source on the work queue. */
export interface EventSource {
  readonly name: string;
  register(queue: KeyQueue): void;
}

interface Watchable<T> {
  on(handler: (event: InformerEvent, obj: T, old?: T) => void): void;
}

/** An EventSource from a cache and the function that maps its events to credentials. */
export function eventSource<T extends KubeObject>(name: string, cache: Watchable<T>, handle: (event: InformerEvent, obj: T, old?: T) => Requeue): EventSource {
  return {
    name,
    register: (queue) =>
      cache.on((event, obj, old) => {
        const r = handle(event, obj, old);
        for (const key of r.now ?? []) queue.add(key);
        for (const k of r.rateLimited ?? []) {
          if (typeof k === 'string') queue.addRateLimited(k);
          else queue.addRateLimited(k.key, k.stillNeeded);
        }
      }),
  };
}

export interface HandlerDeps {
  /** Written here: a credential's spec is known from its first watch event. */
  specs: SpecMap;
  caches: {
    crc: Watchable<RawCredential>;
    rc: Watchable<RawCredential>;
    namespaces: Watchable<V1Namespace> & NamespaceReader;
    secrets: Watchable<V1Secret>;
    serviceAccounts: Watchable<V1ServiceAccount>;
  };
  ownedSecrets: OwnedSecretIndex;
  minted(key: string): MintedCredential | undefined;
  /** Drops everything kept for a deleted credential (states.ts). */
  forget(key: string): void;
  /** Writes a namespace that appears at once (new-namespace.ts); without it, its credentials run. */
  newNamespace?: Pick<NewNamespaceWriter, 'write'> | undefined;
}

/** The watches of the credential controller: both credential kinds, namespaces, managed Secrets, service accounts. */
export function credentialEventSources(d: HandlerDeps): EventSource[] {
  const onCredential = (event: InformerEvent, obj: RawCredential, old?: RawCredential): Requeue => {
    const r = credentialEvent(d.specs, event, obj, old);
    if (r.forget) d.forget(r.forget);
    return { now: r.requeue };
  };
  return [
    eventSource('clusterregistrycredentials', d.caches.crc, onCredential),
    eventSource('registrycredentials', d.caches.rc, onCredential),
    eventSource('namespaces', d.caches.namespaces, (event, ns, old) => {
      const keys = namespaceEventKeys(d.specs, event, ns, old, d.ownedSecrets);
      if (event !== 'add' || !d.newNamespace || keys.length === 0) return { now: keys };
      return { now: d.newNamespace.write(ns.metadata?.name ?? '', keys) };
    }),
    eventSource('secrets', d.caches.secrets, (event, secret, old) => {
      const claim = d.ownedSecrets.apply(event, secret, old);
      const holdsCurrent = (key: string) => holdsCurrentContent(d.specs.get(key), d.minted(key), secret);
      const keys = secretEventKeys(d.specs, event, claim, holdsCurrent);
      const ownerKey = claim.owner;
      if (event === 'delete' || !ownerKey) return { rateLimited: keys };
      // The owner's Secret, as the cache holds it once a run is over: the write whose event this may
      // be has recorded what it wrote by then.
      const ns = secret.metadata?.namespace ?? '';
      const name = secret.metadata?.name ?? '';
      const ownerSpecKey = specKeyOf(d.specs, ownerKey);
      const stillNeeded = (key: string) => () => {
        const latest = d.ownedSecrets.get(ownerKey, ns, name);
        return !latest || !holdsCurrentContent(d.specs.get(key), d.minted(key), latest);
      };
      return { rateLimited: keys.map((key) => (key === ownerSpecKey ? { key, stillNeeded: stillNeeded(key) } : key)) };
    }),
    eventSource('serviceaccounts', d.caches.serviceAccounts, (event, sa) => {
      if (event === 'delete') return {};
      const labels = d.caches.namespaces.get(sa.metadata?.namespace ?? '')?.metadata?.labels ?? {};
      return { now: serviceAccountEventKeys(d.specs, sa, labels) };
    }),
  ];
}

/**
 * A credential event: updates the spec map and answers what to run again (in this order): the
 * credentials sharing its Secret name before and after (a credential that starts or stops wanting a
 * Secret changes who else claims it), then itself if the change needs a run. `forget`: deleted.
 */
export function credentialEvent(specs: SpecMap, event: InformerEvent, obj: RawCredential, old?: RawCredential): { forget?: string; requeue: string[] } {
  const key = credentialKey(obj.kind ?? '', obj.metadata?.name ?? '', obj.metadata?.namespace);
  const before = specs.get(key)?.spec.target.secretName;
  if (event === 'delete') {
    specs.delete(key);
    return { forget: key, requeue: secretNameSharers(specs, key, before) };
  }
  const parsed = credentialObject.safeParse(obj);
  if (parsed.success) specs.set(key, parsed.data);
  else specs.delete(key);
  const requeue: string[] = [];
  if (!old || old.metadata?.generation !== obj.metadata?.generation) {
    const after = specs.get(key)?.spec.target.secretName;
    requeue.push(...secretNameSharers(specs, key, before));
    if (after !== before) requeue.push(...secretNameSharers(specs, key, after));
  }
  if (credentialNeedsRun(obj, old, parsed.success ? parsed.data : undefined)) requeue.push(key);
  return { requeue };
}

/** Whether a credential's update needs a run: not for status writes (its own, mostly). */
export function credentialNeedsRun(obj: RawCredential, old: RawCredential | undefined, spec: CredentialObject | undefined): boolean {
  return (
    !old ||
    old.metadata?.generation !== obj.metadata?.generation ||
    !!old.metadata?.deletionTimestamp !== !!obj.metadata?.deletionTimestamp ||
    JSON.stringify(old.metadata?.annotations ?? {}) !== JSON.stringify(obj.metadata?.annotations ?? {}) ||
    // The finalizer is to be added or removed. (Not "is absent": a Retain credential has none, and
    // each of its status writes would requeue it.)
    (obj.metadata?.finalizers?.includes(FINALIZER) ?? false) !== (spec?.spec.cleanupPolicy === 'Delete')
  );
}

/** A namespace event: the credentials that target it now or did before, or hold a Secret in it. */
export function namespaceEventKeys(specs: Specs, event: InformerEvent, ns: V1Namespace, old: V1Namespace | undefined, owned: Pick<OwnedSecretsReader, 'get'>): string[] {
  const name = ns.metadata?.name ?? '';
  const labels = ns.metadata?.labels ?? {};
  const oldLabels = old?.metadata?.labels;
  if (event === 'update' && old && JSON.stringify(oldLabels ?? {}) === JSON.stringify(labels) && old.status?.phase === ns.status?.phase) return [];
  const out: string[] = [];
  for (const [key, spec] of specs) {
    if (targetsNamespace(spec, name, labels) || (oldLabels && targetsNamespace(spec, name, oldLabels)) || owned.get(labelKeyOf(spec), name, spec.spec.target.secretName)) {
      out.push(key);
    }
  }
  return out;
}

/**
 * A managed-Secret event (after the index took it, with the owners its labels name now and named
 * before): those credentials, re-checked within their rate limit, since a Secret someone keeps
 * changing back must not make us write without bound. Our own writes come back as events too: a
 * Secret that already holds what its credential wants needs nothing.
 */
export function secretEventKeys(
  specs: Specs,
  event: InformerEvent,
  claim: { owner: string | undefined; oldOwner: string | undefined },
  holdsCurrent: (key: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const ownerKey of new Set([claim.owner, claim.oldOwner])) {
    const key = ownerKey && specKeyOf(specs, ownerKey);
    if (key && !(event !== 'delete' && ownerKey === claim.owner && holdsCurrent(key))) out.push(key);
  }
  return out;
}

// Every watch event of a managed Secret is checked against what its credential wants: one desired
// object per (spec, mint), so that its digests are computed once (kube/secrets.ts), not per event.
const desiredByMint = new WeakMap<MintedCredential, { spec: CredentialObject; desired: DesiredPullSecret }>();

function desiredFor(spec: CredentialObject, minted: MintedCredential): DesiredPullSecret {
  const held = desiredByMint.get(minted);
  if (held?.spec === spec) return held.desired;
  const desired = desiredPullSecret(spec, minted);
  desiredByMint.set(minted, { spec, desired });
  return desired;
}

/** Whether a managed Secret already holds exactly what the credential's last mint wants there. */
export function holdsCurrentContent(spec: CredentialObject | undefined, minted: MintedCredential | undefined, secret: V1Secret): boolean {
  if (!spec || !minted || secret.metadata?.name !== spec.spec.target.secretName) return false;
  return isUpToDate(secret, desiredFor(spec, minted));
}

/** A service account added or changed: the credentials that want it patched and whose Secret it lacks. */
export function serviceAccountEventKeys(specs: Specs, sa: V1ServiceAccount, namespaceLabels: Record<string, string>): string[] {
  const ns = sa.metadata?.namespace ?? '';
  const name = sa.metadata?.name ?? '';
  const out: string[] = [];
  for (const [key, spec] of specs) {
    const t = spec.spec.target;
    if (!(t.serviceAccounts.includes('*') || t.serviceAccounts.includes(name))) continue;
    if (hasPullSecret(sa, t.secretName)) continue;
    if (targetsNamespace(spec, ns, namespaceLabels)) out.push(key);
  }
  return out;
}
