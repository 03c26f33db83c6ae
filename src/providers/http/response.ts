import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import type { Credential } from '../types.js';
import { evaluateJsonPath } from './jsonpath.js';
import type { HttpConfig } from './schema.js';

// The broker's answer: username, password and expiry at the configured JSON paths.

/** The largest answer regcred reads; a larger one is refused while it streams in. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

function expiryFrom(doc: unknown, config: HttpConfig, now: Date, call: string): Date | undefined {
  const r = config.response;
  if (r.expiresAt !== undefined) {
    const v = evaluateJsonPath(doc, r.expiresAt);
    if (v === undefined || v === null || v === '') throw new RegcredError('ProviderError', `http ${call}: the response has no value at ${r.expiresAt} (response.expiresAt)`);
    let ms: number;
    if (typeof v === 'number') ms = v * 1000;
    else if (typeof v === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(v.trim())) ms = Number(v.trim()) * 1000;
    else if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(v.trim())) ms = Date.parse(v.trim());
    else ms = NaN;
    if (!Number.isFinite(ms)) {
      throw new RegcredError('ProviderError', `http ${call}: the value at ${r.expiresAt} (response.expiresAt) is neither an RFC 3339 time nor epoch seconds`);
    }
    return new Date(ms);
  }
  if (r.expiresIn !== undefined) {
    const v = evaluateJsonPath(doc, r.expiresIn);
    if (v === undefined || v === null || v === '') throw new RegcredError('ProviderError', `http ${call}: the response has no value at ${r.expiresIn} (response.expiresIn)`);
    const seconds = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new RegcredError('ProviderError', `http ${call}: the value at ${r.expiresIn} (response.expiresIn) is not a number of seconds`);
    }
    return new Date(now.getTime() + seconds * 1000);
  }
  return undefined;
}

/** The credential in the broker's answer, by the configured paths. A missing or non-string value is a permanent error. */
export function extractCredential(doc: unknown, config: HttpConfig, now: Date, call: string): Credential {
  const r = config.response;
  const password = evaluateJsonPath(doc, r.password);
  if (typeof password === 'string') registerSecret(password);
  if (typeof password !== 'string' || password === '') {
    throw new RegcredError(
      'ProviderError',
      `http ${call}: the response has ${password === undefined ? 'no value' : `a ${typeName(password)}, not a string,`} at ${r.password} (response.password)`,
    );
  }
  let username: unknown = config.username;
  if (r.username !== undefined) {
    username = evaluateJsonPath(doc, r.username);
    if (typeof username !== 'string' || username === '') {
      throw new RegcredError(
        'ProviderError',
        `http ${call}: the response has ${username === undefined ? 'no value' : `a ${typeName(username)}, not a string,`} at ${r.username} (response.username)`,
      );
    }
  }
  const expiresAt = expiryFrom(doc, config, now, call);
  return { registry: config.registry, username: username as string, password, ...(expiresAt ? { expiresAt } : {}) };
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (v === '') return 'empty string';
  return typeof v === 'object' ? 'object' : typeof v;
}
