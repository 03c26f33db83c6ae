import { parseDuration } from '../../config/common.js';
import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';

// The plugin's answer: a credentialprovider.kubelet.k8s.io/v1 CredentialProviderResponse on its
// stdout, checked field by field, every password registered as a secret before anything else.

export const API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';
const CACHE_KEY_TYPES = new Set(['Image', 'Registry', 'Global']);

/** A Go duration as metav1.Duration marshals it ("12h0m0s", "1m30.5s", "0s"), in milliseconds. */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/.exec(text);
  if (text === '0' || text === '-0' || text === '+0') return 0;
  if (!m) return undefined;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const part of text.matchAll(/([0-9]*\.?[0-9]*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g)) ms += Number(part[1]) * unit[part[2]!]!;
  return m[1] === '-' ? -ms : ms;
}

export interface Answer {
  image: string;
  auth: Record<string, { username: string; password: string }>;
  expiresAt: Date | undefined;
}

/** The CredentialProviderRequest written on the plugin's stdin. */
export function credentialProviderRequest(image: string, token: string | undefined, annotations: Record<string, string> | undefined): Record<string, unknown> {
  const request: Record<string, unknown> = { apiVersion: API_VERSION, kind: 'CredentialProviderRequest', image };
  if (token !== undefined) {
    request['serviceAccountToken'] = token;
    request['serviceAccountAnnotations'] = annotations ?? {};
  }
  return request;
}

/**
 * The answer in the plugin's stdout (after a successful run). `name` names the plugin in errors;
 * `withStderr` adds the plugin's stderr excerpt to a message; `started`: when the plugin was
 * started, the origin of cacheDuration.
 */
export function parseAnswer(
  stdout: string,
  ctx: { name: string; image: string; started: Date; defaultCacheDuration?: string | undefined; withStderr: (msg: string) => string },
): Answer {
  const { name, image, started, defaultCacheDuration, withStderr } = ctx;
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new RegcredError('ProviderError', withStderr(`${name}: the output is not JSON (${Buffer.byteLength(stdout)} bytes; expected a CredentialProviderResponse)`));
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
  } else if (defaultCacheDuration !== undefined) {
    lifetimeMs = parseDuration(defaultCacheDuration);
  }
  return { image, auth, expiresAt: lifetimeMs === undefined ? undefined : new Date(started.getTime() + lifetimeMs) };
}
