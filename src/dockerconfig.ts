import { createHash } from 'node:crypto';
import { RegcredError } from './errors.js';
import { registerSecret } from './redact.js';
import type { Credential } from './providers/types.js';

// The `.dockerconfigjson` format that kubelet, containerd and skopeo read:
// {"auths": {"<registry>": {"username", "password", "auth": base64("user:pass")}}}

export interface DockerConfigJson {
  auths: Record<string, { username: string; password: string; auth: string }>;
}

/** No lone surrogates (String.prototype.isWellFormed, which TypeScript's ES2023 lib does not declare). */
function wellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

export function buildDockerConfigJson(credentials: readonly Credential[]): string {
  const entries: Array<[string, DockerConfigJson['auths'][string]]> = [];
  // Sorted by UTF-16 code units (not localeCompare, which depends on the locale and equates
  // canonically equivalent strings), so the same credentials always give the same bytes.
  for (const c of [...credentials].sort((a, b) => (a.registry < b.registry ? -1 : a.registry > b.registry ? 1 : 0))) {
    // The kubelet reads `auth` and splits it at the first ":": a username holding one, or text that
    // is not well-formed Unicode (a lone surrogate becomes U+FFFD in UTF-8), would make `auth`
    // disagree with the username/password fields. Refuse rather than write a config that lies.
    if (c.username.includes(':')) throw new RegcredError('ProviderError', `the credential for ${c.registry} has a username containing ":", which a docker config cannot carry`);
    if (!wellFormed(c.username) || !wellFormed(c.password) || !wellFormed(c.registry)) {
      throw new RegcredError('ProviderError', `the credential for ${wellFormed(c.registry) ? c.registry : 'a registry'} is not well-formed Unicode text`);
    }
    const auth = Buffer.from(`${c.username}:${c.password}`).toString('base64');
    // base64(user:pass) contains base64(pass) only for some username lengths: register it whole.
    registerSecret(c.password);
    registerSecret(auth);
    entries.push([c.registry, { username: c.username, password: c.password, auth }]);
  }
  // fromEntries defines own properties, so even a registry named "__proto__" is kept.
  return JSON.stringify({ auths: Object.fromEntries(entries) });
}

/** Parses a `.dockerconfigjson` into credentials; `where` names the source in error messages. */
export function parseDockerConfigJson(text: string, where: string): Credential[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new RegcredError('InvalidSource', `${where}: ".dockerconfigjson" is not valid JSON`);
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null) {
    throw new RegcredError('InvalidSource', `${where}: ".dockerconfigjson" has no "auths" object`);
  }
  const out: Credential[] = [];
  for (const [registry, raw] of Object.entries(auths as Record<string, unknown>)) {
    const entry = (raw ?? {}) as { username?: unknown; password?: unknown; auth?: unknown };
    let username = typeof entry.username === 'string' ? entry.username : undefined;
    let password = typeof entry.password === 'string' ? entry.password : undefined;
    if ((username === undefined || password === undefined) && typeof entry.auth === 'string') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        username ??= decoded.slice(0, colon);
        password ??= decoded.slice(colon + 1);
      }
    }
    if (username === undefined || password === undefined) {
      throw new RegcredError('InvalidSource', `${where}: auths entry "${registry}" has no username and password`);
    }
    registerSecret(password);
    if (typeof entry.auth === 'string') registerSecret(entry.auth);
    out.push({ registry, username, password });
  }
  return out;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The earliest expiry among credentials, or undefined when none expires. */
export function earliestExpiry(credentials: readonly Credential[]): Date | undefined {
  let min: Date | undefined;
  for (const c of credentials) if (c.expiresAt && (!min || c.expiresAt < min)) min = c.expiresAt;
  return min;
}
