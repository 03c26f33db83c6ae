// What the provider tests share. End to end: the credential file they sync, reading back the Secret
// it wrote, and (further below) the controller's retry behaviour and "no secret in the output" checks.
// Unit: fake ProviderDeps, a recording fetch, error matchers.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { EventsV1Api, type CustomObjectsApi, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { RegcredError } from '../../src/errors.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import type { ProviderDeps, SourceReader, SourceSecret } from '../../src/providers/types.js';
import type { CredentialStatus, TestController } from './test-controller.js';
import { watchOutput } from './leak-guard.js';

export type Auths = Record<string, { username: string; password: string; auth: string }>;

/** A ClusterRegistryCredential using `provider` (its config as flow YAML), writing `pull-<name>` into the namespaces given. */
export function credentialYaml(provider: string, name: string, providerYaml: string, namespaces: string | readonly string[]): string {
  const names = typeof namespaces === 'string' ? [namespaces] : namespaces;
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    ${provider}: ${providerYaml}
  target:
    secretName: pull-${name}
    namespaces: {names: [${names.join(', ')}]}
    serviceAccounts: []
`;
}

/** The `auths` of a written pull Secret (asserting it is one). */
export function authsOf(secret: V1Secret | undefined): Auths {
  assert.ok(secret, 'the Secret was written');
  assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  return (JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as { auths: Auths }).auths;
}

/** One `auths` entry as regcred writes it. */
export function authEntry(username: string, password: string): Auths[string] {
  return { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') };
}

// ---- What the provider unit tests share: fake ProviderDeps, a recording fetch, error matchers. ----

/** Asserts that `text` holds none of `secrets` (a string: verbatim; a RegExp: no match). */
export function assertNoSecret(text: string, secrets: ReadonlyArray<string | RegExp>, where = 'the message'): void {
  for (const s of secrets) {
    if (typeof s === 'string') assert.ok(!text.includes(s), `a secret appeared in ${where}`);
    else assert.doesNotMatch(text, s, `a secret appeared in ${where}`);
  }
}

/**
 * An assert.rejects matcher: a RegcredError with this code, retryability and message, and none of
 * `secrets` in the message.
 */
export function rejectsWith(code: string, retryable: boolean, message: RegExp, secrets: ReadonlyArray<string | RegExp> = []) {
  return (err: unknown) => {
    assert.ok(err instanceof RegcredError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.retryable, retryable, err.message);
    assert.match(err.message, message);
    assertNoSecret(err.message, secrets);
    return true;
  };
}

/**
 * A SourceReader handing out a copy of the Secret data `secrets` gives for a ref (by name, or a
 * function of the ref), SourceNotFound for none; every ref read is pushed onto `reads`.
 */
export function fakeSources(
  secrets: Record<string, Record<string, string>> | ((ref: SecretRef) => Record<string, string> | undefined),
  reads: SecretRef[] = [],
): SourceReader {
  return {
    async read(ref): Promise<SourceSecret> {
      reads.push(ref);
      const data = typeof secrets === 'function' ? secrets(ref) : secrets[ref.name];
      if (!data) throw new RegcredError('SourceNotFound', `source Secret regcred-system/${ref.name} not found`);
      return { namespace: ref.namespace ?? 'regcred-system', name: ref.name, type: 'Opaque', data: { ...data } };
    },
  };
}
type SecretRef = Parameters<SourceReader['read']>[0];

/** A fetch that fails the test: no network call expected. */
export const noFetch = (async () => {
  throw new Error('no network call expected');
}) as typeof globalThis.fetch;

/** ProviderDeps for a unit test: no source Secrets, the current time, no network, a silent logger, unless `over` says otherwise. */
export function fakeDeps(over: Partial<ProviderDeps> = {}): ProviderDeps {
  return { sources: fakeSources({}), now: () => new Date(), fetch: noFetch, log: silentLogger(), ...over };
}

/** A JSON logger at `level` whose lines go to `lines`, for "logged, and no secret in the log" checks. */
export function capturingLogger(lines: string[], level: 'debug' | 'info' | 'warn' = 'debug'): Logger {
  // Rescanned for leaks when the control plane stops (a no-op in unit tests, which start none).
  watchOutput('the logs of an in-process controller', () => lines.join(''));
  return createLogger({ level, format: 'json', destination: new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }) });
}

/** What a recording fetch was sent. */
export interface SentRequest {
  url: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string | undefined;
  redirect: string | undefined;
}

/** A fetch that records each request onto `sent` and answers with `answer`. */
export function recordingFetch(answer: (req: SentRequest, init: RequestInit) => Response | Promise<Response>, sent: SentRequest[] = []): typeof globalThis.fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const req: SentRequest = { url: String(input), method: init.method ?? 'GET', headers, body: typeof init.body === 'string' ? init.body : undefined, redirect: init.redirect };
    sent.push(req);
    return answer(req, init);
  }) as typeof globalThis.fetch;
}

/** A recording fetch answering each call with the next of `answers` (a body as JSON unless a string; none: an empty body). */
export function answersInTurn(answers: Array<{ status: number; body?: unknown }>, sent: SentRequest[] = []): typeof globalThis.fetch {
  return recordingFetch((req) => {
    const a = answers.shift();
    if (!a) throw new Error(`unexpected call ${req.method} ${req.url}`);
    if (a.body === undefined) return new Response(null, { status: a.status });
    return new Response(typeof a.body === 'string' ? a.body : JSON.stringify(a.body), { status: a.status, headers: { 'content-type': 'application/json' } });
  }, sent);
}

/** A JWT with these claims and a fake signature (for code that reads claims without verifying). */
export function unsignedJwt(claims: Record<string, unknown>, alg = 'RS256', signature = 'c2lnbmF0dXJlLWJ5dGVz'): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg, typ: 'JWT' })}.${b64(claims)}.${signature}`;
}

/** A recording fetch answering every call with this status and body text (as JSON). */
export function answeringAll(sent: SentRequest[], status: number, body: string): typeof globalThis.fetch {
  return recordingFetch(() => new Response(body, { status, headers: { 'content-type': 'application/json' } }), sent);
}

/** A TokenRequest call (ProviderDeps.tokenRequest). */
export interface TokenCall {
  ref: SecretRef;
  audiences: string[];
  seconds: number;
}

/** A ProviderDeps.tokenRequest that records each call onto `calls` and answers `token`. */
export function recordingTokenRequest(calls: TokenCall[], token: string): NonNullable<ProviderDeps['tokenRequest']> {
  return async (ref, audiences, seconds) => {
    calls.push({ ref, audiences, seconds });
    return token;
  };
}

// ---- End to end: what a failing provider must lead to in the controller; the CRD schema; output checks. ----

/** The Degraded condition of a credential's status. */
export function degradedOf(s: CredentialStatus): NonNullable<CredentialStatus['conditions']>[number] | undefined {
  return s.conditions?.find((c) => c.type === 'Degraded');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A retryable failure is retried with backoff (retryBaseMs 300, retryMaxMs 4000): by 3.5 s after
 * `since`, 3 to `most` failed refreshes of `name` since `errorsBefore` (300, 600, 1200, 2400 ms with
 * jitter: a few attempts, not one per reconcile and not one only), logged as retryable on a line
 * holding `logged` (default: the name).
 */
export async function assertRetriedWithBackoff(ctl: TestController, name: string, errorsBefore: number, since: number, opts: { most?: number; logged?: string } = {}): Promise<void> {
  await sleep(Math.max(0, 3500 - (Date.now() - since)));
  const errors = (await ctl.refreshes(name, 'error')) - errorsBefore;
  console.log(`# ${errors} failed refreshes of ${name} in ${Date.now() - since} ms (retry base 300 ms, max 4 s)`);
  assert.ok(errors >= 3 && errors <= (opts.most ?? 7), `retried with backoff, not once and not in a tight loop: ${errors}`);
  const logged = opts.logged ?? name;
  assert.ok(ctl.logLines.some((l) => l.includes('"permanent":false') && l.includes(logged)), 'logged as retryable');
}

/** A permanent failure is not retried soon: `windowMs` on (under 4 s), one failed refresh of `name` since `errorsBefore`, then the longest delay (retryMaxMs 4000). */
export async function assertNotRetried(ctl: TestController, name: string, errorsBefore: number, windowMs = 3000): Promise<void> {
  await sleep(windowMs);
  assert.equal((await ctl.refreshes(name, 'error')) - errorsBefore, 1, 'one attempt, then the longest delay (4 s)');
  assert.ok(ctl.logLines.some((l) => l.includes('"permanent":true') && l.includes('"retryInMs":4000')), 'logged as permanent');
}

/** The `remote` fields (the remote's own words, for the log only) of the controller's log lines about credential `name`. */
export function remoteLogged(logLines: readonly string[], name: string): string[] {
  const found: string[] = [];
  for (const line of logLines) {
    let entry: { credential?: unknown; remote?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (typeof entry.remote !== 'string' || typeof entry.credential !== 'string') continue;
    if (entry.credential === name || entry.credential.endsWith(`/${name}`)) found.push(entry.remote);
  }
  return found;
}

/**
 * A provider's error text reached the controller's log only: a log line about ClusterRegistryCredential
 * `name` carries it in its `remote` field, while the status `status` and the Warning Events about the
 * credential (at least one, waited for) do not hold it.
 */
export async function assertRemoteTextInLogOnly(kc: KubeConfig, logLines: readonly string[], name: string, status: unknown, remote: RegExp): Promise<void> {
  const logged = remoteLogged(logLines, name);
  assert.ok(logged.some((r) => remote.test(r)), `the controller logged the remote's text in its remote field: ${JSON.stringify(logged)}`);
  assert.doesNotMatch(JSON.stringify(status), remote, 'the remote text is not in the status');
  const events = kc.makeApiClient(EventsV1Api);
  let warnings: string[] = [];
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(200)) {
    const list = await events.listNamespacedEvent({ namespace: 'default' });
    warnings = list.items.filter((e) => e.regarding?.name === name && e.type === 'Warning').map((e) => e.note ?? '');
    if (warnings.length > 0) break;
  }
  assert.ok(warnings.length > 0, `a Warning Event about ${name}`);
  for (const note of warnings) assert.doesNotMatch(note, remote, 'the remote text is not in an Event');
}

/** The API server refuses this ClusterRegistryCredential (CRD schema): 422, its body matching `message` when given. */
export async function assertCrdRefuses(custom: CustomObjectsApi, name: string, provider: Record<string, unknown>, message?: RegExp): Promise<void> {
  await assert.rejects(
    custom.createClusterCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      plural: 'clusterregistrycredentials',
      body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'ClusterRegistryCredential', metadata: { name }, spec: { provider, target: { secretName: 'x', namespaces: { all: true } } } },
    }),
    (err: unknown) => {
      const e = err as { code?: number; body?: unknown };
      assert.equal(e.code, 422, String(err));
      if (message) assert.match(typeof e.body === 'string' ? e.body : JSON.stringify(e.body), message);
      return true;
    },
    name,
  );
}

/** The exp claim of a JWT. */
export function jwtExp(jwt: string): number {
  return (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number }).exp;
}

/** Applies a JSON patch to ClusterRegistryCredential `name`. */
export function patchClusterCredential(custom: CustomObjectsApi, name: string, ops: Array<{ op: 'add' | 'replace'; path: string; value: unknown }>): Promise<unknown> {
  return custom.patchClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name, body: ops });
}

/** Replaces the `provider` config of ClusterRegistryCredential `name` (a spec change: the controller re-mints at once). */
export function patchClusterProvider(custom: CustomObjectsApi, name: string, provider: string, value: Record<string, unknown>): Promise<unknown> {
  return patchClusterCredential(custom, name, [{ op: 'replace', path: `/spec/provider/${provider}`, value }]);
}

/** Makes the controller refresh ClusterRegistryCredential `name` now: a spec change (refresh.interval 2h) re-mints at once. */
export function forceRefresh(custom: CustomObjectsApi, name: string): Promise<unknown> {
  return patchClusterCredential(custom, name, [{ op: 'add', path: '/spec/refresh', value: { interval: '2h' } }]);
}

/** Asserts that `text` is not empty and holds none of `values`, verbatim or base64-encoded (in docker config `auth`). */
export function assertNothingSecret(text: string, values: readonly string[], where: string): void {
  assert.ok(text.length > 0, `${where}: nothing captured`);
  assertNoSecret(text, [...values, ...values.map((v) => Buffer.from(v).toString('base64'))], where);
}

/** What `p` rejects with, which must be a RegcredError (a resolution fails the test). */
export async function rejection(p: Promise<unknown>): Promise<RegcredError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RegcredError, `a RegcredError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}
