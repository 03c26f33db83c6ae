import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import type { SecretKeyRef } from '../internal/schema.js';
import type { ProviderDeps } from '../types.js';
import type { HttpConfig } from './schema.js';

// The request's configured parts: header values and the body from Secrets, the service-account token.

/** Lifetime of the minted service-account token (TokenRequest's minimum; it is used at once). */
export const DEFAULT_TOKEN_SECONDS = 600;

/** Reads one key of a Secret; registers its value at once. Missing key: InvalidSource naming the key. */
export async function readSecretKey(ref: SecretKeyRef, deps: ProviderDeps, field: string): Promise<{ value: string; where: string }> {
  const src = await deps.sources.read({ namespace: ref.namespace, name: ref.name });
  const where = `Secret ${src.namespace}/${src.name}`;
  const value = src.data[ref.key];
  registerSecret(value);
  registerSecret(value?.trim());
  if (value === undefined || value === '') throw new RegcredError('InvalidSource', `${where} lacks key "${ref.key}" (for ${field})`);
  return { value, where };
}

export async function buildHeaders(config: HttpConfig, deps: ProviderDeps): Promise<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const h of config.headers ?? []) {
    if (h.value !== undefined) {
      headers[h.name.toLowerCase()] = h.value;
      continue;
    }
    const ref = h.valueFrom!.secretKeyRef;
    const { value, where } = await readSecretKey(ref, deps, `header ${h.name}`);
    const trimmed = value.trim();
    if (/[\r\n\x00]/.test(trimmed)) {
      throw new RegcredError('InvalidSource', `${where}: key "${ref.key}" (for header ${h.name}) must be one line`);
    }
    const full = (h.valueFrom!.prefix ?? '') + trimmed;
    registerSecret(full);
    headers[h.name.toLowerCase()] = full;
  }
  const sa = config.serviceAccountToken;
  if (sa) {
    if (!deps.tokenRequest) {
      throw new RegcredError('InvalidSource', 'http serviceAccountToken needs service-account tokens, which this run cannot mint (no Kubernetes access)');
    }
    const token = await deps.tokenRequest(sa.serviceAccount, [sa.audience], sa.expirationSeconds ?? DEFAULT_TOKEN_SECONDS);
    registerSecret(token);
    headers[(sa.header ?? 'Authorization').toLowerCase()] = `Bearer ${token}`;
  }
  return headers;
}
