import { parseDuration } from '../../config/common.js';
import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { httpRequest } from '../internal/http.js';
import { clip } from '../internal/http-errors.js';
import { defineProvider, type Credential, type ProviderDeps } from '../types.js';
import { buildHeaders, readSecretKey } from './request.js';
import { extractCredential, MAX_RESPONSE_BYTES } from './response.js';
import { DEFAULT_TIMEOUT, httpConfig, type HttpConfig } from './schema.js';


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
// This folder: schema.ts (the config), request.ts (headers and body from Secrets, the token),
// response.ts and jsonpath.ts (reading the answer).

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
