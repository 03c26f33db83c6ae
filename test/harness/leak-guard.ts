// "Secrets never leak": a process-wide registry of every password, token and key the tests use,
// and scans of what regcred shows to people (controller and CLI output, Events, the status of
// RegistryCredential / ClusterRegistryCredential objects) for any of them. The harness remembers
// secrets where it makes or accepts them; the control plane's stop() scans the cluster and every
// captured output, so a leak fails the test file even when no test looked for it.
import { AssertionError } from 'node:assert';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';

/** Shorter values are too likely to appear by chance (and no test secret is that short). */
const MIN_LENGTH = 6;

/** Remembered needle → a safe description of it (never the value itself). */
const needles = new Map<string, string>();

/** Outputs registered for the final rescan: secrets remembered later are checked against them too. */
const outputs: Array<{ where: string; text: () => string }> = [];

function describe(value: string): string {
  return `"${value.slice(0, 3)}…" (${value.length} chars)`;
}

function add(needle: string, description: string): void {
  if (needle.length >= MIN_LENGTH && !needles.has(needle)) needles.set(needle, description);
}

/** Remembers secret values, plain and base64-encoded (as in Secret data or a docker config). */
export function rememberSecret(...values: ReadonlyArray<string | undefined>): void {
  for (const v of values) {
    if (v === undefined || v.length < MIN_LENGTH) continue;
    add(v, describe(v));
    add(Buffer.from(v).toString('base64'), `${describe(v)} base64-encoded`);
    // A JWT's signature is what makes it a secret; its header is the same in every token.
    const parts = v.split('.');
    if (parts.length === 3 && parts[2]!.length >= 16) add(parts[2]!, `the signature of JWT ${describe(v)}`);
  }
}

/** Remembers a password and the docker config `auth` field of the login: base64("user:password"). */
export function rememberLogin(user: string, password: string): void {
  rememberSecret(password);
  if (password.length >= MIN_LENGTH) add(Buffer.from(`${user}:${password}`).toString('base64'), `the auth field of ${user}:${describe(password)}`);
}

/** Environment variables that carry secrets: AWS_SECRET_ACCESS_KEY, *_TOKEN, *_PASSWORD; not *_FILE paths or key ids. */
const SECRET_ENV = /SECRET|TOKEN|PASSWORD|PRIVATE/i;
const NOT_SECRET_ENV = /_(FILE|PATH|URL|URI|ID)$/i;

/** Remembers the secret-looking values of an environment given to a child process (a CLI run, a controller). */
export function rememberSecretEnv(env: Readonly<Record<string, string | undefined>> | undefined): void {
  for (const [name, value] of Object.entries(env ?? {})) if (SECRET_ENV.test(name) && !NOT_SECRET_ENV.test(name)) rememberSecret(value);
}

/** Which remembered values appear in `text`, described safely. */
export function findLeaks(text: string): string[] {
  const found: string[] = [];
  for (const [needle, description] of needles) if (text.includes(needle)) found.push(description);
  return found;
}

/** Throws an AssertionError naming `where` if `text` holds a remembered value. */
export function assertNoLeak(text: string, where: string): void {
  const leaks = findLeaks(text);
  if (leaks.length > 0) throw new AssertionError({ message: `secret leaked in ${where}: ${leaks.join(', ')}` });
}

/** Registers an output (a growing log, say) to be rescanned by scanCapturedOutputs. */
export function watchOutput(where: string, text: () => string): void {
  outputs.push({ where, text });
}

/** Rescans every watched output against every value remembered so far. */
export function scanCapturedOutputs(): void {
  for (const o of outputs) assertNoLeak(o.text(), o.where);
}

/** For unit tests of this module only. */
export function forgetAllSecrets(): void {
  needles.clear();
  outputs.length = 0;
}

// ---- The cluster scan ----

const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}

/** The items of a list call, or none when the API is not served (a CRD not installed: 404). */
async function listOrNone<T>(list: () => Promise<{ items: T[] }>): Promise<T[]> {
  try {
    return (await list()).items;
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** Secret data keys whose values are secrets (not "registry", "username", "ca.crt", "namespace"). */
const SECRET_KEY = /password|secret|token|private|credential/i;

/** Remembers the secret values stored in the cluster's Secrets: source secrets and written pull secrets. */
async function rememberClusterSecrets(core: CoreV1Api): Promise<void> {
  for (const s of await listOrNone(() => core.listSecretForAllNamespaces())) {
    for (const [key, b64] of Object.entries(s.data ?? {})) {
      const value = Buffer.from(b64, 'base64').toString('utf8');
      if (key === '.dockerconfigjson' || key === '.dockercfg') rememberDockerConfig(value);
      else if (SECRET_KEY.test(key)) rememberSecretValue(value);
    }
  }
}

/** A value, and when it is a JSON object (a key file), its secret-looking string fields too. */
function rememberSecretValue(value: string): void {
  rememberSecret(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return;
  }
  if (typeof parsed !== 'object' || parsed === null) return;
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' && SECRET_KEY.test(k)) rememberSecret(v);
}

type AuthEntry = { username?: string; password?: string; auth?: string; identitytoken?: string; registrytoken?: string };

function rememberDockerConfig(json: string): void {
  let parsed: { auths?: Record<string, AuthEntry> } & Record<string, AuthEntry>;
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch {
    return; // not ours to judge: a malformed config some test wrote on purpose
  }
  for (const entry of Object.values(parsed.auths ?? parsed)) {
    if (typeof entry !== 'object' || entry === null) continue;
    rememberSecret(entry.password, entry.auth, entry.identitytoken, entry.registrytoken);
    if (entry.username && entry.password) rememberLogin(entry.username, entry.password);
  }
}

function check(text: string | undefined, where: string): void {
  if (text) assertNoLeak(text, where);
}

async function scanEvents(kc: KubeConfig): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const e of await listOrNone(() => core.listEventForAllNamespaces())) {
    const where = `core/v1 Event ${e.metadata?.namespace}/${e.metadata?.name} (about ${e.involvedObject.kind} ${e.involvedObject.name})`;
    check(e.message, `${where} message`);
    check(e.reason, `${where} reason`);
    check(e.action, `${where} action`);
    check(JSON.stringify(e.metadata?.annotations ?? {}), `${where} annotations`);
  }
  const events = kc.makeApiClient(EventsV1Api);
  for (const e of await listOrNone(() => events.listEventForAllNamespaces())) {
    const where = `events.k8s.io/v1 Event ${e.metadata?.namespace}/${e.metadata?.name}`;
    check(e.note, `${where} note`);
    check(e.reason, `${where} reason`);
    check(JSON.stringify(e.metadata?.annotations ?? {}), `${where} annotations`);
  }
}

type CredentialObject = { metadata?: { namespace?: string; name?: string }; status?: unknown };

async function scanCredentialStatus(kc: KubeConfig): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const lists: Array<[string, () => Promise<unknown>]> = [
    ['ClusterRegistryCredential', () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterregistrycredentials' })],
    ['RegistryCredential', () => custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, plural: 'registrycredentials' })],
  ];
  for (const [kind, list] of lists) {
    for (const o of await listOrNone(list as () => Promise<{ items: CredentialObject[] }>)) {
      const name = [o.metadata?.namespace, o.metadata?.name].filter(Boolean).join('/');
      check(JSON.stringify(o.status ?? {}), `${kind} ${name} status`);
    }
  }
}

/**
 * Remembers the secrets stored in the cluster's Secrets, then throws an AssertionError if any
 * remembered value appears in an Event, in a credential's status, or in a watched output.
 */
export async function scanClusterForLeaks(kc: KubeConfig): Promise<void> {
  await rememberClusterSecrets(kc.makeApiClient(CoreV1Api));
  await scanEvents(kc);
  await scanCredentialStatus(kc);
  scanCapturedOutputs();
}
