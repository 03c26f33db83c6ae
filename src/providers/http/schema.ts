import { z } from 'zod';
import { duration, parseDuration, registryHost, secretRef } from '../../config/common.js';
import { httpUrl, secretKeyRef } from '../internal/schema.js';
import { JSON_PATH } from './jsonpath.js';

// The `http` provider's configuration (spec.provider.http).

export const DEFAULT_TIMEOUT = '30s';
const MAX_TIMEOUT_MS = 5 * 60_000;

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
