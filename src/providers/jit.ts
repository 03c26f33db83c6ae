import { z } from 'zod';
import { duration, parseDuration, registryHost, secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { requestJson } from './internal/http.js';
import { httpUrl } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `jit`: the Jit container registry (the images of Jit's security controls, registry.jit.io).
// Two calls per refresh, as Jit's own login script does (jitsecurity/ide-pre-commit-hooks README,
// "Jit Docker Login Script"; API tokens: https://docs.jit.io/docs/managing-users#generating-api-tokens):
//   1. POST {baseUrl}/authentication/login, JSON {"clientId", "secret"} -> {"accessToken"}
//   2. POST {baseUrl}/ide/registry/authenticate, Authorization: Bearer <accessToken>
//      -> {"username", "password", "registry_url"}
// registry_url may carry a path (a repository: the script pulls "$registry_url:<tag>"); the docker
// config key is its host, or `registry` when set. The API states no lifetime for the registry
// password: regcred assumes `assumedLifetime` (default 1 h) and refreshes at two thirds of it.

export const DEFAULT_JIT_BASE_URL = 'https://api.jit.io';
export const DEFAULT_JIT_ASSUMED_LIFETIME = '1h';
const MIN_LIFETIME_MS = 5 * 60_000;
const MAX_LIFETIME_MS = 24 * 3600_000;

export const jitConfig = z
  .strictObject({
    /** A Secret with keys `client_id` and `secret`: a Jit API token (Member role). */
    secretRef,
    /** The Jit API; default https://api.jit.io. */
    baseUrl: httpUrl.optional(),
    /** The registry key written in the pull secret; default: the host of the `registry_url` Jit returns (registry.jit.io). */
    registry: registryHost.optional(),
    /** How long a registry password is assumed to live (Jit states none); 5m..24h, default 1h. Refreshed at two thirds of it. */
    assumedLifetime: duration.optional(),
  })
  .refine((c) => c.assumedLifetime === undefined || inRange(c.assumedLifetime), {
    message: 'assumedLifetime must be between 5m and 24h',
    path: ['assumedLifetime'],
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "!has(self.assumedLifetime) || (duration(self.assumedLifetime) >= duration('5m') && duration(self.assumedLifetime) <= duration('24h'))",
        message: 'assumedLifetime must be between 5m and 24h',
      },
    ],
  });
export type JitConfig = z.infer<typeof jitConfig>;

/** True for a duration in range, and for a malformed one (the field's own pattern reports that). */
function inRange(text: string): boolean {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    return true;
  }
  return ms >= MIN_LIFETIME_MS && ms <= MAX_LIFETIME_MS;
}

export function createJitProvider(config: JitConfig, deps: ProviderDeps) {
  const base = (config.baseUrl ?? DEFAULT_JIT_BASE_URL).replace(/\/+$/, '');
  const lifetimeMs = parseDuration(config.assumedLifetime ?? DEFAULT_JIT_ASSUMED_LIFETIME);
  return {
    key: 'jit',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      const { clientId, secret } = await readClient(config.secretRef, deps);
      const login = await postJson(deps, `${base}/authentication/login`, 'login', { body: { clientId, secret } }, signal);
      const accessToken = stringField(login, 'accessToken');
      registerSecret(accessToken);
      if (!accessToken) throw new RegcredError('ProviderError', 'jit login: the response has no accessToken', true);

      const issuedAt = deps.now().getTime();
      const reg = await postJson(deps, `${base}/ide/registry/authenticate`, 'registry authenticate', { bearer: accessToken }, signal);
      const username = stringField(reg, 'username');
      const password = stringField(reg, 'password');
      const registryUrl = stringField(reg, 'registry_url');
      registerSecret(password);
      const missing = [username ? '' : 'username', password ? '' : 'password', registryUrl || config.registry ? '' : 'registry_url'].filter(Boolean);
      if (missing.length > 0 || !username || !password) {
        throw new RegcredError('ProviderError', `jit registry authenticate: the response lacks ${missing.join(', ')}`, true);
      }
      const registry = config.registry ?? registryHostOf(registryUrl!);
      if (!registry) throw new RegcredError('ProviderError', 'jit registry authenticate: registry_url has no host', true);
      return [{ registry, username, password, expiresAt: new Date(issuedAt + lifetimeMs) }];
    },
  };
}

export const jitProvider = defineProvider<JitConfig>({
  key: 'jit',
  configSchema: jitConfig,
  defaultHosts: [new URL(DEFAULT_JIT_BASE_URL).host],
  tenantSurface: (c) => ({ urls: c.baseUrl ? [{ path: ['baseUrl'], url: c.baseUrl }] : [] }),
  create: (config, deps) => createJitProvider(config, deps),
});

/** The host (and port) of a registry URL that may carry a scheme and a repository path. */
export function registryHostOf(url: string): string {
  return url
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split('/')[0]!
    .trim();
}

async function readClient(ref: { namespace?: string | undefined; name: string }, deps: ProviderDeps) {
  const src = await deps.sources.read(ref);
  const clientId = src.data['client_id']?.trim();
  const secret = src.data['secret']?.trim();
  registerSecret(secret);
  const missing = [clientId ? '' : 'client_id', secret ? '' : 'secret'].filter(Boolean);
  if (missing.length > 0 || !clientId || !secret) {
    throw new RegcredError(
      'InvalidSource',
      `Secret ${src.namespace}/${src.name} lacks key(s) ${missing.map((k) => `"${k}"`).join(', ')} (expected client_id and secret of a Jit API token)`,
    );
  }
  return { clientId, secret };
}

function stringField(body: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = body?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function postJson(
  deps: ProviderDeps,
  url: string,
  call: string,
  opts: { body?: unknown; bearer?: string },
  signal: AbortSignal | undefined,
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {};
  return requestJson(deps, { what: `jit ${call}`, url, method: 'POST', headers, json: opts.body, signal });
}
