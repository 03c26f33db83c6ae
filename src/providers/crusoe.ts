import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { duration, parseDuration, registryHost, secretRef } from '../config/common.js';
import { RegcredError, errorMessage } from '../errors.js';
import { registerSecret } from '../redact.js';
import { requestJson } from './internal/http.js';
import { httpUrl } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `crusoe`: Crusoe Container Registry (CCR). One token per refresh, minted with the Crusoe API:
//   POST {baseUrl}/v1alpha5/ccr/tokens  {"expires_at": "<RFC 3339 UTC>", "alias": "..."} -> {"token"}
// (crusoecloud/client-go swagger/v1 api_ccr.go CreateCcrToken, model_ccr_token_request.go; the
// token rotator regcred replaces does the same: crusoe-registry-token-rotator-helm-charts
// rotate_token_api.py). The token is the password of the configured `username` at `registry`.
//
// Every request is signed as Crusoe's own clients sign it (https://docs.crusoecloud.com/reference/api,
// "Authentication"; terraform-provider-crusoe internal/common/auth.go):
//   X-Crusoe-Timestamp: <RFC 3339 UTC, seconds>
//   Authorization: Bearer 1.0:<access key>:<signature>
//   signature = unpadded base64url(HMAC-SHA256(key = base64url-decoded secret key,
//               "<path>\n<canonical query>\n<METHOD>\n<timestamp>\n"))
// with the query's parameters sorted by name and escaped like Go's url.QueryEscape.
//
// Superseded tokens: the API lists and deletes a user's tokens (they are "limited usage API keys" of
// usage "registry"): GET {baseUrl}/v1alpha5/users/limited-usage-api-key -> {"items": [{key_id,
// alias, created_at, expires_at, usage, ...}]}, DELETE .../users/limited-usage-api-key?key_id=<id>
// (client-go api_limited_usage_api_key.go; terraform-provider-crusoe internal/registry/token uses
// them to find a new token's id and to delete it). After minting, regcred lists the tokens with its
// alias and deletes (best effort: a failure is logged, the new token is still used):
//   - those already expired, always (useless to anyone);
//   - when the alias is this credential's own, every valid one but the newest two: the new token and
//     its predecessor, which the pull Secrets still hold until the new one is written. The
//     predecessor goes at the next refresh, when its successor has long been written.
// The alias ties tokens to a credential: `alias` when set, else derived from the credential's kind,
// namespace and name (ProviderDeps.credential, given by the controller and `sync`). `regcred get`
// writes nothing and is not told the credential: its tokens get the plain alias "regcred", of which
// only expired ones are ever deleted. See docs/providers/crusoe.md.

export const DEFAULT_CRUSOE_BASE_URL = 'https://api.crusoecloud.com';
export const DEFAULT_CRUSOE_TOKEN_LIFETIME = '12h';
export const DEFAULT_CRUSOE_ALIAS = 'regcred';

/**
 * The default alias of a credential's tokens: "regcred-<name>" (ClusterRegistryCredential) or
 * "regcred-<namespace>.<name>" (RegistryCredential), within the 64 characters the schema allows
 * (longer names keep a prefix and a hash, so two credentials never share an alias).
 */
export function aliasFor(credential: { kind: string; namespace?: string | undefined; name: string }): string {
  const id = credential.kind === 'RegistryCredential' && credential.namespace ? `${credential.namespace}.${credential.name}` : credential.name;
  const full = `regcred-${id}`;
  if (full.length <= 64) return full;
  return `${full.slice(0, 55)}-${createHash('sha256').update(full).digest('hex').slice(0, 8)}`;
}
export const CRUSOE_API_VERSION = '/v1alpha5';
const SIGNATURE_VERSION = '1.0';
const REGISTRY_USAGE = 'registry';
/** How many valid tokens with a credential's own alias survive a refresh: the new one and the one the Secrets still hold. */
const KEEP_VALID = 2;

export const crusoeConfig = z
  .strictObject({
    /** A Secret with keys `CRUSOE_ACCESS_KEY` and `CRUSOE_SECRET_KEY`: a Crusoe API key pair. */
    secretRef,
    /** The registry the token is for, e.g. "registry.us-east1.crusoecloud.com" (the docker config key). */
    registry: registryHost,
    /** The registry username the token belongs to. */
    username: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^\t\n\v\f\r :]+$/, 'must be a registry username (no whitespace or ":")'),
    /** Lifetime of each minted token, 10m..2160h; default 12h. Renewed at two thirds of it (default renewBefore: a third). */
    tokenLifetime: duration.optional(),
    /**
     * The tokens' alias. Default "regcred", and then only expired "regcred" tokens are deleted.
     * Set it to a name unique to this credential (e.g. "regcred-<credential name>") to also delete
     * the superseded valid tokens with this alias, keeping the newest two.
     */
    alias: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" and "-", starting with a letter or digit')
      .optional(),
    /** The Crusoe API; default https://api.crusoecloud.com. */
    baseUrl: httpUrl.optional(),
  })
  .refine((c) => c.tokenLifetime === undefined || lifetimeInRange(c.tokenLifetime), {
    message: 'tokenLifetime must be between 10m and 2160h',
    path: ['tokenLifetime'],
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "!has(self.tokenLifetime) || (duration(self.tokenLifetime) >= duration('10m') && duration(self.tokenLifetime) <= duration('2160h'))",
        message: 'tokenLifetime must be between 10m and 2160h',
      },
    ],
  });
export type CrusoeConfig = z.infer<typeof crusoeConfig>;

/** True for a duration in range, and for a malformed one (the field's own pattern reports that). */
function lifetimeInRange(text: string): boolean {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    return true;
  }
  return ms >= 10 * 60_000 && ms <= 2160 * 3600_000;
}

/** RFC 3339 in UTC to the second, as Go's time.RFC3339 writes it: "2026-11-23T13:00:00Z". */
export function rfc3339Seconds(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Go's url.QueryEscape: unreserved characters kept, space as "+", everything else %XX (upper case). */
export function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** The canonical query of Crusoe's signature: parameters sorted by name (stable per name), escaped, joined with "&". */
export function canonicalQuery(params: ReadonlyArray<readonly [string, string]>): string {
  return [...params]
    .map(([k, v], i) => ({ k, v, i }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i))
    .map(({ k, v }) => `${goQueryEscape(k)}=${goQueryEscape(v)}`)
    .join('&');
}

/** The signed payload: path, canonical query, method, timestamp, each followed by "\n". */
export function signaturePayload(path: string, query: string, method: string, timestamp: string): string {
  return `${path}\n${query}\n${method.toUpperCase()}\n${timestamp}\n`;
}

/** The two headers of a signed request. `secretKey` is the base64url secret as Crusoe issues it. */
export function signRequest(opts: {
  method: string;
  path: string;
  query: string;
  timestamp: string;
  accessKey: string;
  secretKey: string;
}): { 'x-crusoe-timestamp': string; authorization: string } {
  const key = Buffer.from(opts.secretKey, 'base64url');
  const mac = createHmac('sha256', key).update(signaturePayload(opts.path, opts.query, opts.method, opts.timestamp), 'utf8').digest('base64url');
  return { 'x-crusoe-timestamp': opts.timestamp, authorization: `Bearer ${SIGNATURE_VERSION}:${opts.accessKey}:${mac}` };
}

/** One entry of the token list. */
export interface CrusoeKeyInfo {
  key_id?: unknown;
  alias?: unknown;
  created_at?: unknown;
  expires_at?: unknown;
  usage?: unknown;
}

/**
 * The tokens to delete after a mint: registry tokens with exactly `alias` that have expired, and,
 * when `revokeSuperseded`, the valid ones older than the two newest. Tokens whose creation time
 * cannot be read are never deleted as superseded; a tie at the boundary keeps every tied token.
 */
export function tokensToRevoke(items: readonly CrusoeKeyInfo[], alias: string, now: Date, revokeSuperseded: boolean): string[] {
  const mine = items.filter(
    (i): i is CrusoeKeyInfo & { key_id: string } => i.usage === REGISTRY_USAGE && i.alias === alias && typeof i.key_id === 'string' && i.key_id !== '',
  );
  const time = (v: unknown) => (typeof v === 'string' && v !== '' ? Date.parse(v) : NaN);
  const revoke = new Set<string>();
  const valid: Array<{ id: string; created: number }> = [];
  for (const t of mine) {
    const expires = time(t.expires_at);
    if (Number.isFinite(expires) && expires <= now.getTime()) revoke.add(t.key_id);
    else if (Number.isFinite(time(t.created_at))) valid.push({ id: t.key_id, created: time(t.created_at) });
  }
  if (revokeSuperseded && valid.length > KEEP_VALID) {
    valid.sort((a, b) => b.created - a.created);
    const oldestKept = valid[KEEP_VALID - 1]!.created;
    for (const t of valid) if (t.created < oldestKept) revoke.add(t.id);
  }
  return [...revoke];
}

interface Keys {
  accessKey: string;
  secretKey: string;
}

export function createCrusoeProvider(config: CrusoeConfig, deps: ProviderDeps) {
  const base = (config.baseUrl ?? DEFAULT_CRUSOE_BASE_URL).replace(/\/+$/, '');
  const lifetimeMs = parseDuration(config.tokenLifetime ?? DEFAULT_CRUSOE_TOKEN_LIFETIME);
  const alias = config.alias ?? (deps.credential ? aliasFor(deps.credential) : DEFAULT_CRUSOE_ALIAS);
  /** Superseded valid tokens are deleted only under an alias that belongs to this one credential. */
  const ownAlias = config.alias !== undefined || deps.credential !== undefined;

  /** One signed call; returns the parsed JSON object (or undefined for an empty body). */
  async function call(
    keys: Keys,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Array<[string, string]>,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown> | undefined> {
    const q = canonicalQuery(query);
    const url = `${base}${CRUSOE_API_VERSION}${path}${q ? `?${q}` : ''}`;
    const what = `crusoe ${method} ${CRUSOE_API_VERSION}${path}`;
    const headers = signRequest({ method, path: new URL(url).pathname, query: q, timestamp: rfc3339Seconds(deps.now()), ...keys });
    return requestJson(deps, { what, url, method, headers, json: body, signal }, true);
  }

  /** Deletes this credential's expired and superseded tokens; never fails the mint. */
  async function revokeOld(keys: Keys, signal: AbortSignal | undefined): Promise<void> {
    const warn = (err: unknown) =>
      deps.log.warn(
        { alias, err: errorMessage(err) },
        'crusoe: could not delete old registry tokens (the new token is in use; the old ones stay valid until they expire)',
      );
    let ids: string[];
    try {
      const list = await call(keys, 'GET', '/users/limited-usage-api-key', [], undefined, signal);
      const items = Array.isArray(list?.['items']) ? (list['items'] as CrusoeKeyInfo[]) : [];
      ids = tokensToRevoke(items, alias, deps.now(), ownAlias);
    } catch (err) {
      warn(err);
      return;
    }
    // One failed delete (say, a token another run deleted first) does not stop the others.
    const deleted: string[] = [];
    for (const id of ids) {
      try {
        await call(keys, 'DELETE', '/users/limited-usage-api-key', [['key_id', id]], undefined, signal);
        deleted.push(id);
      } catch (err) {
        warn(err);
      }
    }
    if (deleted.length > 0) deps.log.info({ alias, deleted }, `crusoe: deleted ${deleted.length} old registry token(s) with alias "${alias}"`);
  }

  return {
    key: 'crusoe',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      const keys = await readKeys(config.secretRef, deps);
      const asked = new Date(deps.now().getTime() + lifetimeMs);
      const res = await call(keys, 'POST', '/ccr/tokens', [], { expires_at: rfc3339Seconds(asked), alias }, signal);
      const token = typeof res?.['token'] === 'string' ? res['token'] : '';
      registerSecret(token);
      if (!token) throw new RegcredError('ProviderError', `crusoe POST ${CRUSOE_API_VERSION}/ccr/tokens: the response has no token`, true);
      const stated = typeof res?.['expires_at'] === 'string' ? Date.parse(res['expires_at']) : NaN;
      const expiresAt = Number.isFinite(stated) ? new Date(stated) : new Date(Math.floor(asked.getTime() / 1000) * 1000);
      await revokeOld(keys, signal);
      return [{ registry: config.registry, username: config.username, password: token, expiresAt }];
    },
  };
}

export const crusoeProvider = defineProvider<CrusoeConfig>({
  key: 'crusoe',
  configSchema: crusoeConfig,
  defaultHosts: [new URL(DEFAULT_CRUSOE_BASE_URL).host],
  tenantSurface: (c) => ({ urls: c.baseUrl ? [{ path: ['baseUrl'], url: c.baseUrl }] : [] }),
  create: (config, deps) => createCrusoeProvider(config, deps),
});

async function readKeys(ref: { namespace?: string | undefined; name: string }, deps: ProviderDeps): Promise<Keys> {
  const src = await deps.sources.read(ref);
  const where = `Secret ${src.namespace}/${src.name}`;
  const accessKey = src.data['CRUSOE_ACCESS_KEY']?.trim();
  const secretKey = src.data['CRUSOE_SECRET_KEY']?.trim();
  registerSecret(accessKey);
  registerSecret(secretKey);
  const missing = [accessKey ? '' : 'CRUSOE_ACCESS_KEY', secretKey ? '' : 'CRUSOE_SECRET_KEY'].filter(Boolean);
  if (missing.length > 0 || !accessKey || !secretKey) {
    throw new RegcredError(
      'InvalidSource',
      `${where} lacks key(s) ${missing.map((k) => `"${k}"`).join(', ')} (expected CRUSOE_ACCESS_KEY and CRUSOE_SECRET_KEY of a Crusoe API key)`,
    );
  }
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(secretKey) || Buffer.from(secretKey, 'base64url').length === 0) {
    throw new RegcredError('InvalidSource', `${where}: key "CRUSOE_SECRET_KEY" is not base64url (a Crusoe secret key is)`);
  }
  if (/[\s:]/.test(accessKey)) throw new RegcredError('InvalidSource', `${where}: key "CRUSOE_ACCESS_KEY" contains whitespace or ":"`);
  return { accessKey, secretKey };
}
