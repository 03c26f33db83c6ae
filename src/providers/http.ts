import { z } from 'zod';
import { duration, parseDuration, registryHost, secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { clip, httpRequest } from './internal/http.js';
import { httpUrl, secretKey, secretKeyRef, type SecretKeyRef } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `http`: a generic token broker, for in-house services that hand out registry credentials (Harbor
// robot-account rotation behind a small service, a Vault plugin's HTTP endpoint, a company STS).
// One configured request per refresh: `url`, `method` (GET or POST), headers whose values are
// literals or come from a Secret, an optional body (literal or from a Secret), and optionally a
// Kubernetes service-account token regcred mints with the TokenRequest API, sent as
// `Authorization: Bearer <token>` (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/).
// The answer must be JSON (at most 1 MiB, enforced while reading); `response` names where the
// username, password and expiry are, as JSON paths of a small subset ($.a.b[0]['c-d']). The
// expiry is either an instant (`expiresAt`: RFC 3339, https://www.rfc-editor.org/rfc/rfc3339, or
// Unix epoch seconds) or a lifetime (`expiresIn`: seconds, like OAuth 2.0's expires_in,
// https://www.rfc-editor.org/rfc/rfc6749#section-5.1). Without either the credential has no
// expiry and is fetched again every spec.refresh.interval.
//
// Safety: https only unless `allowInsecure: true`; the request goes through the HTTP core
// (internal/http.ts): redirects are not followed (a redirect would carry the configured headers to
// another address), the timeout covers the body, the network policy applies. Every header value
// taken from a Secret, the service-account token and the returned password are registered as
// secrets before anything can print them; error messages quote neither the request nor the
// broker's answer (its error text is kept for logs only).

export const DEFAULT_TIMEOUT = '30s';
const MAX_TIMEOUT_MS = 5 * 60_000;
/** The largest answer regcred reads; a larger one is refused while it streams in. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Lifetime of the minted service-account token (TokenRequest's minimum; it is used at once). */
export const DEFAULT_TOKEN_SECONDS = 600;

/** An HTTP header name (RFC 9110 token). */
const headerName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)');

/** A header value written in the spec: one line. */
const headerValue = z
  .string()
  .max(8192)
  .regex(/^[^\r\n\x00]*$/, 'must be one line');

export { secretKey };

/** `{namespace?, name, key}`: one key of a Secret; namespace defaults like a source Secret's. */

/**
 * The JSON path subset: `$`, then any number of `.name`, `['any name']` and `[index]` steps.
 * Hand-written (see evaluateJsonPath): libraries implement filters and script expressions
 * (jsonpath-plus evaluated them with `vm`, CVE-2024-21534) that a credential reader has no use for,
 * and reading a field needs twenty lines.
 */
const JSON_PATH = /^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\]|\['[^'\\]*'\])*$/;
export const jsonPath = z
  .string()
  .max(512)
  .regex(JSON_PATH, 'must be a JSON path such as "$.token", "$.data.credentials[0].password" or "$[\'expires-at\']"');

const headerSpec = z
  .strictObject({
    /** The header's name. */
    name: headerName,
    /** A literal value. Exactly one of value, valueFrom. */
    value: headerValue.optional(),
    /** A value read from a Secret (registered as a secret, trimmed of surrounding whitespace). */
    valueFrom: z
      .strictObject({
        secretKeyRef,
        /** Put before the Secret's value, e.g. "Bearer " or "Token ". */
        prefix: headerValue.optional(),
      })
      .optional(),
  })
  .refine((h) => (h.value === undefined) !== (h.valueFrom === undefined), { message: 'needs exactly one of value, valueFrom' })
  .meta({ 'x-kubernetes-validations': [{ rule: 'has(self.value) != has(self.valueFrom)', message: 'needs exactly one of value, valueFrom' }] });

const tokenSeconds = z.number().int().min(600).max(86400);

export const httpConfig = z
  .strictObject({
    /** The broker's URL; https unless allowInsecure is true. */
    url: httpUrl,
    /** GET (default) or POST. */
    method: z.enum(['GET', 'POST']).optional(),
    /** Allow a plain http:// URL (a broker on the same node or in a trusted network, a test double). */
    allowInsecure: z.boolean().optional(),
    /** Request headers, each a literal value or a value from a Secret. Names must be distinct (case-insensitively). */
    headers: z.array(headerSpec).max(20).optional(),
    /** A literal request body (POST only); content type application/json unless a Content-Type header is given. */
    body: z.string().max(65536).optional(),
    /** The request body from a Secret (POST only); not trimmed. At most one of body, bodyFrom. */
    bodyFrom: z.strictObject({ secretKeyRef }).optional(),
    /** Send a service-account token regcred mints (TokenRequest API) as `<header>: Bearer <token>`. */
    serviceAccountToken: z
      .strictObject({
        /** The service account; namespace defaults like a source Secret's. */
        serviceAccount: secretRef,
        /** The token's audience: what the broker checks in `aud`. */
        audience: z.string().min(1).max(512),
        /** The header carrying the token; default "Authorization". */
        header: headerName.optional(),
        /** The token's lifetime, 600..86400 seconds; default 600. */
        expirationSeconds: tokenSeconds.optional(),
      })
      .optional(),
    /** The registry the credential is for: the `auths` key written (e.g. "harbor.example.com"). */
    registry: registryHost,
    /** A fixed username (Harbor robot names, "oauth2accesstoken", ...). Exactly one of username, response.username. */
    username: z.string().min(1).max(256).optional(),
    /** Where the answer (JSON) holds each value. */
    response: z
      .strictObject({
        /** The username's path, e.g. "$.name". Exactly one of this and the top-level username. */
        username: jsonPath.optional(),
        /** The password's (token's) path, e.g. "$.secret". */
        password: jsonPath,
        /** The expiry instant: RFC 3339 text or Unix epoch seconds. At most one of expiresAt, expiresIn. */
        expiresAt: jsonPath.optional(),
        /** The lifetime in seconds from now. */
        expiresIn: jsonPath.optional(),
      })
      .refine((r) => r.expiresAt === undefined || r.expiresIn === undefined, { message: 'takes at most one of expiresAt, expiresIn' })
      .meta({ 'x-kubernetes-validations': [{ rule: '!(has(self.expiresAt) && has(self.expiresIn))', message: 'takes at most one of expiresAt, expiresIn' }] }),
    /** How long the request may take, body included; default 30s, at most 5m. */
    timeout: duration.optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.url.startsWith('https://') && c.allowInsecure !== true) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must be an https:// URL (set allowInsecure: true to allow http://)' });
    }
    if (/^https?:\/\/[^/?#]*@/.test(c.url)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not contain a user or password (send credentials in a header from a Secret)' });
    }
    if ((c.body !== undefined || c.bodyFrom !== undefined) && c.method !== 'POST') {
      ctx.addIssue({ code: 'custom', path: ['method'], message: 'must be POST when body or bodyFrom is set' });
    }
    if (c.body !== undefined && c.bodyFrom !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'takes at most one of body, bodyFrom' });
    }
    if ((c.username === undefined) === (c.response.username === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of username (a fixed name) and response.username (a path)' });
    }
    const names = (c.headers ?? []).map((h) => h.name.toLowerCase());
    if (c.serviceAccountToken) names.push((c.serviceAccountToken.header ?? 'Authorization').toLowerCase());
    if (new Set(names).size !== names.length) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'header names must be distinct (including serviceAccountToken.header, default Authorization)' });
    }
    if (c.timeout !== undefined) {
      const ms = parseDuration(c.timeout);
      if (ms <= 0 || ms > MAX_TIMEOUT_MS) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be more than 0s and at most 5m' });
    }
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: "self.url.startsWith('https://') || (has(self.allowInsecure) && self.allowInsecure)", message: 'url must be an https:// URL (set allowInsecure: true to allow http://)' },
      { rule: "!self.url.matches('^https?://[^/?#]*@')", message: 'url must not contain a user or password (send credentials in a header from a Secret)' },
      { rule: "!(has(self.body) || has(self.bodyFrom)) || (has(self.method) && self.method == 'POST')", message: 'method must be POST when body or bodyFrom is set' },
      { rule: '!(has(self.body) && has(self.bodyFrom))', message: 'takes at most one of body, bodyFrom' },
      { rule: 'has(self.username) != has(self.response.username)', message: 'needs exactly one of username (a fixed name) and response.username (a path)' },
      {
        rule: "!has(self.headers) || self.headers.all(h, self.headers.exists_one(g, g.name.lowerAscii() == h.name.lowerAscii()) && (!has(self.serviceAccountToken) || h.name.lowerAscii() != (has(self.serviceAccountToken.header) ? self.serviceAccountToken.header : 'Authorization').lowerAscii()))",
        message: 'header names must be distinct (including serviceAccountToken.header, default Authorization)',
      },
      {
        rule: "!has(self.timeout) || (duration(self.timeout) > duration('0s') && duration(self.timeout) <= duration('5m'))",
        message: 'timeout must be more than 0s and at most 5m',
      },
    ],
  });
export type HttpConfig = z.infer<typeof httpConfig>;

// ---------------------------------------------------------------------------------------------
// JSON paths

export type PathStep = string | number;

/** The steps of a path the schema accepted: `$.a['b c'][0]` → ["a", "b c", 0]. */
export function parseJsonPath(path: string): PathStep[] {
  if (!JSON_PATH.test(path)) throw new Error(`invalid JSON path ${JSON.stringify(path)}`);
  const steps: PathStep[] = [];
  for (const m of path.slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]|\['([^']*)'\]/g)) {
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push(m[3]!);
  }
  return steps;
}

/** The value at `path` in `doc`, or undefined. Own properties only (no `__proto__` or `constructor` tricks). */
export function evaluateJsonPath(doc: unknown, path: string): unknown {
  let node = doc;
  for (const step of parseJsonPath(path)) {
    if (typeof step === 'number') {
      if (!Array.isArray(node) || step >= node.length) return undefined;
      node = node[step];
    } else {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, step)) return undefined;
      node = (node as Record<string, unknown>)[step];
    }
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// The provider

export function createHttpProvider(config: HttpConfig, deps: ProviderDeps) {
  const method = config.method ?? 'GET';
  const timeoutMs = parseDuration(config.timeout ?? DEFAULT_TIMEOUT);
  const target = new URL(config.url);
  // The URL's query may hold an API key: messages name the origin and path only.
  const call = `${method} ${target.origin}${target.pathname}`;
  return {
    key: 'http',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      if (target.protocol !== 'https:' && config.allowInsecure !== true) {
        throw new RegcredError('InvalidSpec', `http: url must be https (set allowInsecure: true to allow ${target.protocol}//)`);
      }
      if (target.username || target.password) {
        throw new RegcredError('InvalidSpec', 'http: url must not contain a user or password (send credentials in a header from a Secret)');
      }
      const headers = await buildHeaders(config, deps);
      let body: string | undefined;
      if (config.body !== undefined) body = config.body;
      else if (config.bodyFrom) body = (await readSecretKey(config.bodyFrom.secretKeyRef, deps, 'bodyFrom')).value;
      if (body !== undefined) {
        registerSecret(body);
        if (!('content-type' in headers)) headers['content-type'] = 'application/json';
      }
      if (!('accept' in headers)) headers['accept'] = 'application/json';
      const res = await httpRequest(deps, {
        what: `http ${call}`,
        url: config.url,
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal,
        timeoutMs,
        maxBytes: MAX_RESPONSE_BYTES,
      });
      let doc: unknown;
      try {
        doc = JSON.parse(res.text);
      } catch {
        throw new RegcredError('ProviderError', `http ${call}: the response is not JSON (HTTP ${res.status}, ${res.body.length} bytes)`, false, {
          remoteDetail: clip(`content-type ${res.headers.get('content-type') ?? 'none'}: ${res.text}`),
        });
      }
      return [extractCredential(doc, config, deps.now(), call)];
    },
  };
}

export const httpProvider = defineProvider<HttpConfig>({
  key: 'http',
  configSchema: httpConfig,
  // No default host: every broker a tenant may call is one the administrator allowlists.
  tenantSurface: (c) => ({
    urls: [{ path: ['url'], url: c.url }],
    insecure: c.allowInsecure ? ['allowInsecure'] : undefined,
    headers: (c.headers ?? []).map((h, i) => ({ path: ['headers', i, 'name'], name: h.name })),
  }),
  create: (config, deps) => createHttpProvider(config, deps),
});

/** Reads one key of a Secret; registers its value at once. Missing key: InvalidSource naming the key. */
async function readSecretKey(ref: SecretKeyRef, deps: ProviderDeps, field: string): Promise<{ value: string; where: string }> {
  const src = await deps.sources.read({ namespace: ref.namespace, name: ref.name });
  const where = `Secret ${src.namespace}/${src.name}`;
  const value = src.data[ref.key];
  registerSecret(value);
  registerSecret(value?.trim());
  if (value === undefined || value === '') throw new RegcredError('InvalidSource', `${where} lacks key "${ref.key}" (for ${field})`);
  return { value, where };
}

async function buildHeaders(config: HttpConfig, deps: ProviderDeps): Promise<Record<string, string>> {
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
