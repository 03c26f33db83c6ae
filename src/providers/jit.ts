import { z } from 'zod';
import { duration, parseDuration, registryHost, secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { httpUrl } from './ecr.js';
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
    async fetch(signal?: AbortSignal): Promise<Credential[]> {
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

async function postJson(
  deps: ProviderDeps,
  url: string,
  call: string,
  opts: { body?: unknown; bearer?: string },
  signal: AbortSignal | undefined,
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.bearer) headers['authorization'] = `Bearer ${opts.bearer}`;
  const { res, text } = await timedFetch(
    deps,
    url,
    { method: 'POST', headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) },
    signal,
    `jit ${call}`,
  );
  const body = parseJsonObject(text);
  if (!res.ok) throw httpError(res.status, body, text, `jit ${call}`);
  if (!body) throw new RegcredError('ProviderError', `jit ${call}: the response is not a JSON object (HTTP ${res.status})`, true);
  return body;
}

/** Per request: the API gets this long to answer (headers and body). */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * deps.fetch with a timeout and no redirects followed (a redirect would re-send a secret-bearing
 * body or signed request elsewhere; it surfaces as an HTTP 3xx error instead); returns the
 * response and its body text. The timer is a plain (ref'd) one, not AbortSignal.timeout(), so a
 * one-shot `sync` waiting on a silent API times out instead of simply exiting.
 */
export async function timedFetch(
  deps: ProviderDeps,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
  what: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<{ res: Response; text: string }> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${timeoutMs / 1000} s`, 'TimeoutError')), timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
  try {
    const res = await deps.fetch(url, { ...init, redirect: 'manual', signal: combined });
    return { res, text: await res.text() };
  } catch (err) {
    if (timeout.signal.aborted && !signal?.aborted) throw new RegcredError('ProviderError', `${what}: timed out after ${timeoutMs / 1000} s`, true, { cause: err });
    throw networkError(err, what);
  } finally {
    clearTimeout(timer);
  }
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function oneLine(text: string, max = 200): string {
  return (text.split('\n')[0] ?? '').trim().slice(0, max);
}

/** The API's own error text: `message`, `detail`, `error` or `error_description`, whichever it sent. */
export function errorText(body: Record<string, unknown> | undefined, raw: string): string {
  // Crusoe: {"code": "bad_credentials", "message": "..."}
  if (typeof body?.['code'] === 'string' && typeof body['message'] === 'string' && body['message'].trim()) {
    return oneLine(`${body['code']}: ${body['message']}`);
  }
  for (const k of ['message', 'detail', 'error_description', 'error', 'code']) {
    const v = body?.[k];
    if (typeof v === 'string' && v.trim()) return oneLine(v);
    if (typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string') return oneLine((v as { message: string }).message);
  }
  return body ? '' : oneLine(raw);
}

/**
 * A failed HTTP call as a RegcredError: bad credentials (400, 401), no permission (403) and other
 * 4xx are permanent; 408, 429 and 5xx are retryable. `what` names the provider and the call.
 */
export function httpError(status: number, body: Record<string, unknown> | undefined, raw: string, what: string): RegcredError {
  const retryable = status === 408 || status === 429 || status >= 500;
  const detail = errorText(body, raw);
  const hint = status === 401 ? ' (bad credentials)' : status === 403 ? ' (permission denied)' : '';
  return new RegcredError('ProviderError', `${what}: HTTP ${status}${hint}${detail ? `: ${detail}` : ''}`, retryable);
}

/** A network failure (refused, reset, timeout, DNS) as a retryable RegcredError. */
export function networkError(err: unknown, what: string): RegcredError {
  if (err instanceof RegcredError) return err;
  const e = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = [e.code, e.cause?.code].find((c): c is string => typeof c === 'string');
  let message = typeof e.message === 'string' ? oneLine(e.message) : String(err);
  if (message === 'fetch failed' && typeof e.cause?.message === 'string') message = `fetch failed: ${oneLine(e.cause.message)}`;
  const detail = code && !message.includes(code) ? `${code} (${message})` : message;
  // undici throws TypeError("fetch failed") for network errors; any other TypeError is a bad request (a URL it cannot parse).
  const retryable = !(e.name === 'TypeError' && !message.startsWith('fetch failed'));
  return new RegcredError('ProviderError', `${what}: ${detail}`, retryable, { cause: err });
}
