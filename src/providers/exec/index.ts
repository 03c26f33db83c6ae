import { parseDuration } from '../../config/common.js';
import { bestMatch } from '../../credential/keyring.js';
import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { defineProvider, type Credential, type ProviderDeps } from '../types.js';
import { credentialProviderRequest, parseAnswer, type Answer } from './answer.js';
import { runPlugin, stderrExcerpt, type PluginRun } from './plugin.js';
import { DEFAULT_TIMEOUT, execConfig, type ExecConfig } from './schema.js';

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
// This folder: schema.ts (the config), plugin.ts (running the plugin), answer.ts (the request it
// reads and the response it writes).

/** PATH for the plugin when the controller itself has none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_TOKEN_SECONDS = 600;
/** Why `exec` is refused in a RegistryCredential (the schema, the CRD rule and the provider say the same). */
export const CLUSTER_ONLY_REASON = "it runs a command inside regcred with the controller's privileges";

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
    const request = credentialProviderRequest(image, token, config.serviceAccountToken?.annotations);
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
    return parseAnswer(run.stdout, { name, image, started, defaultCacheDuration: config.defaultCacheDuration, withStderr });
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