import { spawn } from 'node:child_process';
import { z } from 'zod';
import { duration, parseDuration, secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret, scrub } from '../redact.js';
import { secretKeyRef } from './internal/schema.js';
import { bestMatch } from '../credential/keyring.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `exec`: runs a kubelet image credential provider plugin, any program that speaks
// `credentialprovider.kubelet.k8s.io/v1` (the cloud providers' own ecr-credential-provider,
// acr-credential-provider, auth-provider-gcp, or an in-house one), the way the kubelet does:
// a CredentialProviderRequest (JSON) on stdin, a CredentialProviderResponse (JSON) on stdout.
//   https://kubernetes.io/docs/tasks/administer-cluster/kubelet-credential-provider/
//   https://kubernetes.io/docs/reference/config-api/kubelet-credentialprovider.v1/
//   (k8s.io/kubelet/pkg/apis/credentialprovider/v1/types.go)
// The request carries `image`; the response's `auth` maps registry patterns to
// {username, password}, valid for `cacheDuration` (a Go duration such as "12h0m0s"). Its keys may
// be globs ("*.dkr.ecr.*.amazonaws.com"), which a docker config cannot use as keys, so the spec
// names the concrete registries; each is matched against the keys with the kubelet's rules
// (k8s.io/kubernetes/pkg/credentialprovider/keyring.go, URLsMatch): the same number of host labels,
// each matched by a glob (Go's filepath.Match, so `*` stays within one label), the same port, and
// the key's path a prefix of the registry's path. One Credential per configured registry.
// Plugins written for Kubernetes 1.34's service-account-token mode (KEP-4412) get the
// `serviceAccountToken` and `serviceAccountAnnotations` request fields when `serviceAccountToken`
// is configured; regcred mints that token with the TokenRequest API.
//
// How the plugin runs: node:child_process `spawn` (no shell) of `command` with `args`, in its own
// process group, with a clean environment (PATH plus `env`; nothing of the controller's own
// environment), killed (the whole group) after `timeout`. Its stdout is capped at 1 MiB; its
// stderr is quoted in errors, truncated and scrubbed of every registered secret (the `env` values
// taken from Secrets, the service-account token). The command runs inside the regcred container
// with the controller's privileges: see docs/providers/exec.md, "Security". Therefore `exec` is
// cluster-only: a RegistryCredential (a namespace tenant's object) may not use it. The schema and
// the CRD (a CEL rule) refuse it at admission (ProviderDefinition.clusterOnly); the provider refuses
// it again at run time (ProviderDeps.credential), in case an object got past an older CRD.

export const API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';
export const DEFAULT_TIMEOUT = '30s';
const MAX_TIMEOUT_MS = 10 * 60_000;
const MAX_STDOUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
const STDERR_EXCERPT = 300;
/** PATH for the plugin when the controller itself has none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_TOKEN_SECONDS = 600;
const CACHE_KEY_TYPES = new Set(['Image', 'Registry', 'Global']);
/** Why `exec` is refused in a RegistryCredential (the schema, the CRD rule and the provider say the same). */
export const CLUSTER_ONLY_REASON = "it runs a command inside regcred with the controller's privileges";

const envVar = z
  .strictObject({
    /** The variable's name. */
    name: z
      .string()
      .max(256)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name: letters, digits and "_", not starting with a digit'),
    /** A literal value. Exactly one of value, valueFrom. */
    value: z.string().max(32768).optional(),
    /** A value read from a Secret (treated as a secret: never printed). */
    valueFrom: z.strictObject({ secretKeyRef }).optional(),
  })
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), { message: 'needs exactly one of value, valueFrom' })
  .meta({ 'x-kubernetes-validations': [{ rule: 'has(self.value) != has(self.valueFrom)', message: 'needs exactly one of value, valueFrom' }] });

/** A concrete registry: host[:port][/path], no glob, no scheme. */
export const concreteRegistry = z
  .string()
  .max(512)
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?(\/[A-Za-z0-9._\/-]*)?$/,
    'must be a concrete registry host[:port][/path] without globs or scheme, such as "123456789012.dkr.ecr.us-east-1.amazonaws.com"',
  );

export const execConfig = z
  .strictObject({
    /** The plugin: an absolute path, or a program name looked up in PATH. Run without a shell. */
    command: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^(\/[^\x00]*|[A-Za-z0-9._+-]+)$/, 'must be an absolute path or a program name (looked up in PATH)'),
    /** Arguments, as the kubelet's CredentialProvider `args`. */
    args: z.array(z.string().max(4096)).max(64).optional(),
    /** The plugin's environment besides PATH: nothing else of the controller's environment is passed. */
    env: z.array(envVar).max(64).optional(),
    /** The concrete registries to write (the `auths` keys); each must match a key of the plugin's answer. */
    registries: z.array(concreteRegistry).min(1).max(20),
    /** The `image` of the request; default: each registry itself (one run per registry not covered by an earlier answer). */
    image: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[^\t\n\v\f\r ]+$/, 'must be an image reference without whitespace')
      .optional(),
    /** How long the plugin may run; default 30s, at most 10m. The process group is killed after it. */
    timeout: duration.optional(),
    /** The credential's lifetime when the answer has no cacheDuration (the kubelet's defaultCacheDuration); default: no expiry. */
    defaultCacheDuration: duration.optional(),
    /** KEP-4412 plugins: pass a service-account token regcred mints (TokenRequest) in the request. */
    serviceAccountToken: z
      .strictObject({
        /** The service account; namespace defaults like a source Secret's. */
        serviceAccount: secretRef,
        /** The token's audience (the kubelet's tokenAttributes.serviceAccountTokenAudience). */
        audience: z.string().min(1).max(512),
        /** The token's lifetime, 600..86400 seconds; default 600. */
        expirationSeconds: z.number().int().min(600).max(86400).optional(),
        /** Sent as the request's serviceAccountAnnotations (the plugin may read e.g. a role ARN from them); default {}. */
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    const names = (c.env ?? []).map((e) => e.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', path: ['env'], message: 'variable names must be distinct' });
    if (c.timeout !== undefined) {
      const ms = parseDuration(c.timeout);
      if (ms <= 0 || ms > MAX_TIMEOUT_MS) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be more than 0s and at most 10m' });
    }
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: '!has(self.env) || self.env.all(e, self.env.exists_one(f, f.name == e.name))', message: 'env variable names must be distinct' },
      {
        rule: "!has(self.timeout) || (duration(self.timeout) > duration('0s') && duration(self.timeout) <= duration('10m'))",
        message: 'timeout must be more than 0s and at most 10m',
      },
    ],
  });
export type ExecConfig = z.infer<typeof execConfig>;

/** A Go duration as metav1.Duration marshals it ("12h0m0s", "1m30.5s", "0s"), in milliseconds. */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text);
  if (text === '0' || text === '-0' || text === '+0') return 0;
  if (!m) return undefined;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const part of text.matchAll(/([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(part[1]) * unit[part[2]!]!;
  return m[1] === '-' ? -ms : ms;
}

// ---------------------------------------------------------------------------------------------
// Running the plugin

export interface PluginRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  stdoutTooLarge: boolean;
}

/**
 * Runs `command` without a shell, in its own process group, with exactly `env`; writes `input` on
 * stdin. After `timeoutMs` (or when `signal` aborts) the whole group is killed.
 */
export function runPlugin(command: string, args: string[], env: Record<string, string>, input: string, timeoutMs: number, signal?: AbortSignal): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true, shell: false, windowsHide: true });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const errChunks: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let stdoutTooLarge = false;
    let settled = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        try {
          child.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    };
    let forceTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup();
      // A grandchild that left the group may hold the pipes open: do not wait for it forever.
      forceTimer ??= setTimeout(() => finish(null, 'SIGKILL'), 2000);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (code: number | null, sig: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (forceTimer) clearTimeout(forceTimer);
      signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ code, signal: sig, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errChunks).toString('utf8'), timedOut, stdoutTooLarge });
    };
    child.stdout!.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_STDOUT_BYTES) {
        stdoutTooLarge = true;
        stop();
        return;
      }
      out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (errBytes < MAX_STDERR_BYTES) errChunks.push(d.subarray(0, MAX_STDERR_BYTES - errBytes));
      errBytes += d.length;
    });
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code, sig) => finish(code, sig));
    // A plugin that exits without reading stdin: EPIPE is not our error.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
    if (signal?.aborted) stop();
  });
}

/** The end of the plugin's stderr, one line, scrubbed of every registered secret. */
export function stderrExcerpt(stderr: string): string {
  // eslint-disable-next-line no-control-regex
  const lines = scrub(stderr).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let text = lines.slice(-3).join(' / ');
  if (text.length > STDERR_EXCERPT) text = `...${text.slice(-STDERR_EXCERPT)}`;
  return text;
}

// ---------------------------------------------------------------------------------------------
// The provider

interface Answer {
  image: string;
  auth: Record<string, { username: string; password: string }>;
  expiresAt: Date | undefined;
}

export function createExecProvider(config: ExecConfig, deps: ProviderDeps) {
  const registries = [...new Set(config.registries)];
  const timeoutText = config.timeout ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeoutText);
  const name = `exec ${config.command}`;

  async function environment(): Promise<Record<string, string>> {
    const env: Record<string, string> = { PATH: process.env['PATH'] || DEFAULT_PATH };
    for (const e of config.env ?? []) {
      if (e.value !== undefined) {
        env[e.name] = e.value;
        continue;
      }
      const ref = e.valueFrom!.secretKeyRef;
      const src = await deps.sources.read({ namespace: ref.namespace, name: ref.name });
      const value = src.data[ref.key];
      registerSecret(value);
      if (value === undefined) throw new RegcredError('InvalidSource', `Secret ${src.namespace}/${src.name} lacks key "${ref.key}" (for env ${e.name})`);
      env[e.name] = value;
    }
    return env;
  }

  async function ask(image: string, env: Record<string, string>, token: string | undefined, signal: AbortSignal | undefined): Promise<Answer> {
    const request: Record<string, unknown> = { apiVersion: API_VERSION, kind: 'CredentialProviderRequest', image };
    if (token !== undefined) {
      request['serviceAccountToken'] = token;
      request['serviceAccountAnnotations'] = config.serviceAccountToken?.annotations ?? {};
    }
    const started = deps.now();
    let run: PluginRun;
    try {
      run = await runPlugin(config.command, config.args ?? [], env, JSON.stringify(request), timeoutMs, signal);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable (permission denied)' : String(code ?? (err as Error).message);
      throw new RegcredError('ProviderError', `${name}: cannot run the plugin: ${why}`, false, { cause: err });
    }
    const stderr = stderrExcerpt(run.stderr);
    const withStderr = (msg: string) => (stderr ? `${msg}; stderr: ${stderr}` : msg);
    if (run.timedOut) throw new RegcredError('ProviderError', withStderr(`${name}: timed out after ${timeoutText} (the process group was killed)`), true);
    if (signal?.aborted) throw new RegcredError('ProviderError', `${name}: aborted`, true);
    if (run.stdoutTooLarge) throw new RegcredError('ProviderError', `${name}: the output is larger than 1 MiB`);
    if (run.code !== 0) {
      const how = run.code === null ? `was killed by ${run.signal ?? 'a signal'}` : `exited with status ${run.code}`;
      throw new RegcredError('ProviderError', withStderr(`${name}: ${how}`), true);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(run.stdout);
    } catch {
      throw new RegcredError('ProviderError', withStderr(`${name}: the output is not JSON (${Buffer.byteLength(run.stdout)} bytes; expected a CredentialProviderResponse)`));
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new RegcredError('ProviderError', `${name}: the output is not a JSON object (expected a CredentialProviderResponse)`);
    }
    const res = doc as Record<string, unknown>;
    // Every password first: a later error must not be the place where one is first seen.
    const rawAuth = res['auth'];
    if (typeof rawAuth === 'object' && rawAuth !== null) {
      for (const v of Object.values(rawAuth as Record<string, unknown>)) {
        const password = (v as { password?: unknown } | null)?.password;
        if (typeof password === 'string') registerSecret(password);
      }
    }
    if (res['apiVersion'] !== API_VERSION || res['kind'] !== 'CredentialProviderResponse') {
      throw new RegcredError(
        'ProviderError',
        `${name}: the output is apiVersion ${JSON.stringify(res['apiVersion'] ?? null)}, kind ${JSON.stringify(res['kind'] ?? null)}; expected ${API_VERSION} CredentialProviderResponse`,
      );
    }
    if (typeof res['cacheKeyType'] !== 'string' || !CACHE_KEY_TYPES.has(res['cacheKeyType'])) {
      throw new RegcredError('ProviderError', `${name}: the response's cacheKeyType is ${JSON.stringify(res['cacheKeyType'] ?? null)}; expected Image, Registry or Global`);
    }
    const auth: Answer['auth'] = {};
    if (rawAuth !== undefined && rawAuth !== null) {
      if (typeof rawAuth !== 'object' || Array.isArray(rawAuth)) throw new RegcredError('ProviderError', `${name}: the response's auth is not a map`);
      for (const [key, v] of Object.entries(rawAuth as Record<string, unknown>)) {
        const entry = (v ?? {}) as { username?: unknown; password?: unknown };
        if (typeof entry !== 'object' || (entry.username !== undefined && typeof entry.username !== 'string') || (entry.password !== undefined && typeof entry.password !== 'string')) {
          throw new RegcredError('ProviderError', `${name}: the response's auth entry ${JSON.stringify(key)} is not {username, password}`);
        }
        auth[key] = { username: (entry.username as string | undefined) ?? '', password: (entry.password as string | undefined) ?? '' };
      }
    }
    let lifetimeMs: number | undefined;
    const cacheDuration = res['cacheDuration'];
    if (cacheDuration !== undefined && cacheDuration !== null && cacheDuration !== '') {
      lifetimeMs = typeof cacheDuration === 'string' ? parseGoDuration(cacheDuration) : undefined;
      if (lifetimeMs === undefined) throw new RegcredError('ProviderError', `${name}: the response's cacheDuration ${JSON.stringify(cacheDuration)} is not a duration such as "12h0m0s"`);
      // 0 means "do not cache" to the kubelet; regcred cannot re-ask per pull: treated as no stated lifetime.
      if (lifetimeMs <= 0) lifetimeMs = undefined;
    } else if (config.defaultCacheDuration !== undefined) {
      lifetimeMs = parseDuration(config.defaultCacheDuration);
    }
    return { image, auth, expiresAt: lifetimeMs === undefined ? undefined : new Date(started.getTime() + lifetimeMs) };
  }

  return {
    key: 'exec',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      // A RegistryCredential is a tenant's object: it must not run commands with the controller's
      // privileges. Admission refuses it already; this catches objects stored before that rule.
      if (deps.credential?.kind === 'RegistryCredential') {
        throw new RegcredError('InvalidSpec', `provider exec is allowed only in a ClusterRegistryCredential: ${CLUSTER_ONLY_REASON}`);
      }
      const env = await environment();
      let token: string | undefined;
      const sa = config.serviceAccountToken;
      if (sa) {
        if (!deps.tokenRequest) {
          throw new RegcredError('InvalidSource', 'exec serviceAccountToken needs service-account tokens, which this run cannot mint (no Kubernetes access)');
        }
        token = await deps.tokenRequest(sa.serviceAccount, [sa.audience], sa.expirationSeconds ?? DEFAULT_TOKEN_SECONDS);
        registerSecret(token);
      }
      const answers: Answer[] = [];
      const credentials = new Map<string, Credential>();
      const cover = (answer: Answer) => {
        const keys = Object.keys(answer.auth);
        for (const registry of registries) {
          if (credentials.has(registry)) continue;
          const key = bestMatch(keys, registry);
          if (key === undefined) continue;
          const entry = answer.auth[key]!;
          credentials.set(registry, { registry, username: entry.username, password: entry.password, ...(answer.expiresAt ? { expiresAt: answer.expiresAt } : {}) });
        }
      };
      if (config.image !== undefined) {
        const answer = await ask(config.image, env, token, signal);
        answers.push(answer);
        cover(answer);
      } else {
        // One run per registry not yet covered: an answer with a glob key may cover several.
        for (const registry of registries) {
          if (credentials.has(registry)) continue;
          const answer = await ask(registry, env, token, signal);
          answers.push(answer);
          cover(answer);
        }
      }
      const missing = registries.filter((r) => !credentials.has(r));
      if (missing.length > 0) {
        const seen = answers.map((a) => `image ${JSON.stringify(a.image)}: ${Object.keys(a.auth).length === 0 ? 'no auth entries' : `keys ${Object.keys(a.auth).map((k) => JSON.stringify(k)).join(', ')}`}`);
        throw new RegcredError('ProviderError', `${name}: no auth entry matches registr${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')} (the plugin answered ${seen.join('; ')})`);
      }
      return registries.map((r) => credentials.get(r)!);
    },
  };
}

export const execProvider = defineProvider<ExecConfig>({
  key: 'exec',
  configSchema: execConfig,
  clusterOnly: CLUSTER_ONLY_REASON,
  create: (config, deps) => createExecProvider(config, deps),
});
