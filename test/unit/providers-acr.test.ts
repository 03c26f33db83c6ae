// Unit tests for src/providers/acr/: config schema, the Entra request per auth mode, the ACR
// /oauth2/exchange request and its answers, the refresh token's expiry, and error classification,
// with the Entra call and fetch injected (no network). The real @azure/identity against Entra, IMDS
// and ACR doubles is tested in test/integration/providers-acr.test.ts.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createAcrProvider } from '../../src/providers/acr/index.js';
import type { EntraTokenRequest, GetEntraToken } from '../../src/providers/acr/entra.js';
import { classifyEntraError } from '../../src/providers/acr/entra-errors.js';
import { ACR_USERNAME, refreshTokenExpiry } from '../../src/providers/acr/exchange.js';
import { acrConfig, type AcrConfig } from '../../src/providers/acr/schema.js';
import { claims } from '../../src/providers/internal/jwt.js';
import { httpError } from '../../src/providers/internal/http-errors.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps, SourceReader } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { REDACTED, resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { buildCrds } from '../../src/crdgen/crd.js';
import { fakeSources, unsignedJwt, rejection } from '../harness/provider-tests.js';

afterEach(() => resetRegisteredSecrets());

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const SECRET = 'Abc8Q~client-secret-value-0123456789';
const REGISTRY = 'myregistry.azurecr.io';
const NOW = new Date('2030-01-01T00:00:00Z');
const EXP = Math.floor(NOW.getTime() / 1000) + 3 * 3600;

const jwt = (claims: Record<string, unknown>) => unsignedJwt(claims, 'RS256', 'c2lnbmF0dXJl');
const AAD_TOKEN = jwt({ aud: 'https://management.azure.com', tid: TENANT, appid: CLIENT, exp: EXP });
const REFRESH = jwt({ iss: 'Azure Container Registry', aud: REGISTRY, exp: EXP, tenant: TENANT });

const sourcesOf = (data: Record<string, string> | undefined): SourceReader => fakeSources(() => data);

interface FetchCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  form: Record<string, string>;
}

function answering(calls: FetchCall[], status = 200, body: string = JSON.stringify({ refresh_token: REFRESH })): typeof globalThis.fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      form: Object.fromEntries(new URLSearchParams(String(init?.body ?? ''))),
    });
    return new Response(body, { status, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
}

function entra(requests: EntraTokenRequest[], token = AAD_TOKEN): GetEntraToken {
  return async (req) => {
    requests.push(req);
    if (req.getAssertion) await req.getAssertion();
    return token;
  };
}

function deps(over: Partial<ProviderDeps> = {}): ProviderDeps {
  return {
    sources: sourcesOf({ AZURE_CLIENT_SECRET: SECRET }),
    now: () => NOW,
    fetch: answering([]),
    log: silentLogger(),
    ...over,
  };
}

function provider(config: unknown, d: ProviderDeps, get: GetEntraToken) {
  return createAcrProvider(acrConfig.parse(config) as AcrConfig, d, get);
}

const SP = { registry: REGISTRY, tenantId: TENANT, clientId: CLIENT, auth: { secretRef: { name: 'acr-sp' } } };


describe('acr config schema', () => {
  test('is registered under "acr"', () => {
    assert.equal(providerRegistry.get('acr')?.key, 'acr');
  });

  test('accepts each auth mode', () => {
    assert.ok(acrConfig.safeParse(SP).success);
    assert.ok(
      acrConfig.safeParse({ registry: REGISTRY, tenantId: 'contoso.onmicrosoft.com', clientId: CLIENT, auth: { workloadIdentity: { serviceAccount: { name: 'regcred' } } } }).success,
    );
    assert.ok(acrConfig.safeParse({ registry: REGISTRY, auth: { managedIdentity: {} } }).success);
    assert.ok(acrConfig.safeParse({ registry: REGISTRY, auth: { managedIdentity: { clientId: CLIENT } } }).success);
    assert.ok(
      acrConfig.safeParse({
        ...SP,
        registry: 'myregistry.azurecr.cn',
        scope: 'https://management.chinacloudapi.cn/.default',
        authorityHost: 'https://login.chinacloudapi.cn',
        endpoint: 'http://127.0.0.1:8080',
      }).success,
    );
  });

  test('rejects no auth mode, two modes, or a missing tenantId/clientId', () => {
    const issues = (c: unknown) => (acrConfig.safeParse(c).error?.issues ?? []).map((i) => i.message).join('; ');
    assert.match(issues({ registry: REGISTRY, tenantId: TENANT, clientId: CLIENT, auth: {} }), /exactly one of secretRef, workloadIdentity, managedIdentity/);
    assert.match(issues({ ...SP, auth: { secretRef: { name: 'x' }, managedIdentity: {} } }), /exactly one of/);
    assert.match(issues({ registry: REGISTRY, clientId: CLIENT, auth: { secretRef: { name: 'x' } } }), /need tenantId and clientId/);
    assert.match(issues({ registry: REGISTRY, tenantId: TENANT, auth: { workloadIdentity: { serviceAccount: { name: 'sa' } } } }), /need tenantId and clientId/);
    assert.ok(!acrConfig.safeParse({ ...SP, auth: undefined }).success, 'auth is required');
    assert.match(issues({ registry: REGISTRY, clientId: CLIENT, auth: { managedIdentity: {} } }), /set a user-assigned identity as auth\.managedIdentity\.clientId, not clientId/);
  });

  test('rejects a bad registry, client id, plain-http authority and unknown fields', () => {
    assert.ok(!acrConfig.safeParse({ ...SP, registry: 'https://myregistry.azurecr.io' }).success);
    assert.ok(!acrConfig.safeParse({ ...SP, registry: 'My_Registry.azurecr.io' }).success);
    assert.ok(!acrConfig.safeParse({ ...SP, clientId: 'not-a-guid' }).success);
    assert.ok(!acrConfig.safeParse({ ...SP, authorityHost: 'http://login.example' }).success);
    assert.ok(!acrConfig.safeParse({ ...SP, password: 'x' }).success);
    assert.ok(!acrConfig.safeParse({ ...SP, auth: { managedIdentity: { resourceId: 'x' } } }).success);
  });

  test('the CRD carries the same rules as CEL', () => {
    const text = JSON.stringify(buildCrds());
    assert.ok(text.includes("(has(self.secretRef) ? 1 : 0) + (has(self.workloadIdentity) ? 1 : 0) + (has(self.managedIdentity) ? 1 : 0) == 1"));
    assert.ok(text.includes('has(self.auth.managedIdentity) || (has(self.tenantId) && has(self.clientId))'));
    assert.ok(text.includes('!has(self.auth.managedIdentity) || !has(self.clientId)'));
  });
});

describe('acr provider', () => {
  test('auth.secretRef: client secret from the Secret, exchange at https://<registry>/oauth2/exchange', async () => {
    const requests: EntraTokenRequest[] = [];
    const calls: FetchCall[] = [];
    const creds = await provider(SP, deps({ fetch: answering(calls) }), entra(requests)).mint();
    assert.deepEqual(creds, [{ registry: REGISTRY, username: ACR_USERNAME, password: REFRESH, expiresAt: new Date(EXP * 1000) }]);
    assert.equal(ACR_USERNAME, '00000000-0000-0000-0000-000000000000');
    assert.equal(requests.length, 1);
    const r = requests[0]!;
    assert.equal(r.kind, 'clientSecret');
    assert.equal(r.tenantId, TENANT);
    assert.equal(r.clientId, CLIENT);
    assert.equal(r.clientSecret, SECRET);
    assert.equal(r.scope, 'https://management.azure.com/.default');
    assert.equal(r.authorityHost, undefined);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.url, `https://${REGISTRY}/oauth2/exchange`);
    assert.equal(calls[0]!.method, 'POST');
    assert.equal(calls[0]!.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(calls[0]!.form, { grant_type: 'access_token', service: REGISTRY, tenant: TENANT, access_token: AAD_TOKEN });
    for (const s of [SECRET, AAD_TOKEN, REFRESH]) assert.equal(scrub(`x ${s} y`), `x ${REDACTED} y`, 'registered as a secret');
  });

  test('scope, authorityHost and endpoint overrides', async () => {
    const requests: EntraTokenRequest[] = [];
    const calls: FetchCall[] = [];
    await provider(
      { ...SP, scope: 'https://management.usgovcloudapi.net/.default', authorityHost: 'https://login.microsoftonline.us', endpoint: 'http://127.0.0.1:5000/' },
      deps({ fetch: answering(calls) }),
      entra(requests),
    ).mint();
    assert.equal(requests[0]!.scope, 'https://management.usgovcloudapi.net/.default');
    assert.equal(requests[0]!.authorityHost, 'https://login.microsoftonline.us');
    assert.equal(calls[0]!.url, 'http://127.0.0.1:5000/oauth2/exchange');
  });

  test('a source Secret without AZURE_CLIENT_SECRET: InvalidSource naming the Secret and key', async () => {
    const err = await rejection(provider(SP, deps({ sources: sourcesOf({ AZURE_CLIENT_ID: CLIENT }) }), entra([])).mint());
    assert.equal(err.code, 'InvalidSource');
    assert.match(err.message, /Secret regcred-system\/acr-sp lacks key "AZURE_CLIENT_SECRET"/);
  });

  test('auth.workloadIdentity: the client assertion is a service-account token for api://AzureADTokenExchange', async () => {
    const minted: { ref: unknown; audiences: string[]; seconds: number }[] = [];
    let n = 0;
    const tokenRequest = async (ref: { namespace?: string | undefined; name: string }, audiences: string[], seconds: number) => {
      minted.push({ ref, audiences, seconds });
      return `sa-token-${++n}-abcdefgh`;
    };
    const requests: EntraTokenRequest[] = [];
    const assertions: string[] = [];
    const get: GetEntraToken = async (req) => {
      requests.push(req);
      assertions.push(await req.getAssertion!(), await req.getAssertion!());
      return AAD_TOKEN;
    };
    const config = { registry: REGISTRY, tenantId: TENANT, clientId: CLIENT, auth: { workloadIdentity: { serviceAccount: { name: 'regcred' } } } };
    const creds = await provider(config, deps({ tokenRequest }), get).mint();
    assert.equal(creds[0]!.password, REFRESH);
    assert.equal(requests[0]!.kind, 'clientAssertion');
    assert.equal(requests[0]!.clientSecret, undefined);
    assert.deepEqual(minted[0], { ref: { name: 'regcred' }, audiences: ['api://AzureADTokenExchange'], seconds: 600 });
    assert.deepEqual(assertions, ['sa-token-1-abcdefgh', 'sa-token-2-abcdefgh'], 'the first token, then a fresh one');
    assert.equal(scrub('sa-token-1-abcdefgh'), REDACTED);

    minted.length = 0;
    await provider(
      { ...config, auth: { workloadIdentity: { serviceAccount: { namespace: 'ops', name: 'puller' }, audience: 'api://custom' } } },
      deps({ tokenRequest }),
      entra([]),
    ).mint();
    assert.deepEqual(minted[0]?.ref, { namespace: 'ops', name: 'puller' });
    assert.deepEqual(minted[0]?.audiences, ['api://custom']);
  });

  test('auth.workloadIdentity without Kubernetes access: InvalidSource; a refused service account: its own error', async () => {
    const config = { registry: REGISTRY, tenantId: TENANT, clientId: CLIENT, auth: { workloadIdentity: { serviceAccount: { name: 'regcred' } } } };
    const err = await rejection(provider(config, deps(), entra([])).mint());
    assert.equal(err.code, 'InvalidSource');
    assert.match(err.message, /acr auth.workloadIdentity needs service-account tokens/);
    const refused = new RegcredError('CrossNamespaceRef', 'service account x/y is not allowed');
    const err2 = await rejection(provider(config, deps({ tokenRequest: async () => Promise.reject(refused) }), entra([])).mint());
    assert.equal(err2, refused);
  });

  test('auth.managedIdentity: its client id optional; the tenant comes from the token’s tid claim', async () => {
    const requests: EntraTokenRequest[] = [];
    const calls: FetchCall[] = [];
    await provider({ registry: REGISTRY, auth: { managedIdentity: { clientId: CLIENT } } }, deps({ fetch: answering(calls) }), entra(requests)).mint();
    assert.equal(requests[0]!.kind, 'managedIdentity');
    assert.equal(requests[0]!.clientId, CLIENT);
    assert.equal(requests[0]!.tenantId, undefined);
    assert.equal(calls[0]!.form['tenant'], TENANT);

    const opaque = 'opaque-access-token-without-claims';
    const calls2: FetchCall[] = [];
    await provider({ registry: REGISTRY, auth: { managedIdentity: {} } }, deps({ fetch: answering(calls2) }), entra([], opaque)).mint();
    assert.deepEqual(calls2[0]!.form, { grant_type: 'access_token', service: REGISTRY, access_token: opaque }, 'no tenant field when unknown');
  });

  test('the exchange’s tenant is the token’s tid (a GUID) even when tenantId is a domain; tenantId without a tid', async () => {
    const calls: FetchCall[] = [];
    await provider({ ...SP, tenantId: 'contoso.onmicrosoft.com' }, deps({ fetch: answering(calls) }), entra([])).mint();
    assert.equal(calls[0]!.form['tenant'], TENANT);
    const calls2: FetchCall[] = [];
    await provider(SP, deps({ fetch: answering(calls2) }), entra([], 'opaque-token-1234')).mint();
    assert.equal(calls2[0]!.form['tenant'], TENANT);
  });

  test('a refresh token without exp: now + 3 h and a warning', async () => {
    let logged = '';
    const log = createLogger({ format: 'json', destination: new Writable({ write: (c, _e, done) => ((logged += String(c)), done()) }) });
    const noExp = jwt({ iss: 'Azure Container Registry' });
    const creds = await provider(SP, deps({ log, fetch: answering([], 200, JSON.stringify({ refresh_token: noExp })) }), entra([])).mint();
    assert.deepEqual(creds[0]!.expiresAt, new Date(NOW.getTime() + 3 * 3600_000));
    assert.match(logged, /"level":"warn".*states no expiry.*assuming 3 hours/);
    assert.ok(!logged.includes(noExp));
    assert.deepEqual(refreshTokenExpiry('not-a-jwt', { now: () => NOW, log: silentLogger() }), new Date(NOW.getTime() + 3 * 3600_000));
    assert.deepEqual(refreshTokenExpiry(jwt({ exp: 1893456000 }), { now: () => NOW, log: silentLogger() }), new Date(1893456000 * 1000));
    assert.equal(claims('a.b'), undefined);
    assert.equal(claims('a.!!!.c'), undefined);
  });
});

describe('acr /oauth2/exchange errors', () => {
  test('401 {"errors":[...]}: the registry code in the message, its text only in remoteDetail; permanent, with the AcrPull hint', async () => {
    const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required, visit https://aka.ms/acr/authorization for more information.' }] });
    const err = await rejection(provider(SP, deps({ fetch: answering([], 401, body) }), entra([])).mint());
    assert.equal(err.code, 'ProviderError');
    assert.equal(err.retryable, false);
    assert.equal(err.message, 'acr myregistry.azurecr.io: oauth2/exchange: HTTP 401 UNAUTHORIZED (does the identity have the AcrPull role on the registry?)');
    assert.match(err.remoteDetail ?? '', /^UNAUTHORIZED: authentication required, visit/);
    assert.ok(!err.message.includes(AAD_TOKEN));
  });

  test('403 DENIED permanent; 429 and 5xx retryable; odd bodies still read', () => {
    const where = 'acr r: oauth2/exchange';
    const denied = httpError(403, JSON.stringify({ errors: [{ code: 'DENIED', message: 'client has no access' }, { code: 'X', message: 'more' }] }), where);
    assert.equal(denied.retryable, false);
    assert.equal(denied.message, 'acr r: oauth2/exchange: HTTP 403 DENIED (permission denied)');
    assert.equal(denied.remoteDetail, 'DENIED: client has no access: X: more');
    assert.equal(httpError(429, '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', where).retryable, true);
    const unavailable = httpError(503, '<html>\n<body>Service Unavailable</body></html>', where);
    assert.equal(unavailable.retryable, true);
    assert.equal(unavailable.message, 'acr r: oauth2/exchange: HTTP 503');
    const invalid = httpError(400, '{"error":"invalid_request","error_description":"bad tenant"}', where);
    assert.equal(invalid.message, 'acr r: oauth2/exchange: HTTP 400 invalid_request');
    assert.equal(invalid.remoteDetail, 'invalid_request: bad tenant');
    assert.equal(httpError(400, '', where).message, 'acr r: oauth2/exchange: HTTP 400');
  });

  test('200 without refresh_token, or not JSON: retryable ProviderError', async () => {
    const a = await rejection(provider(SP, deps({ fetch: answering([], 200, '{}') }), entra([])).mint());
    assert.match(a.message, /oauth2\/exchange: the answer has no refresh_token/);
    assert.equal(a.retryable, true);
    const b = await rejection(provider(SP, deps({ fetch: answering([], 200, 'hello') }), entra([])).mint());
    assert.match(b.message, /the response is not a JSON object \(HTTP 200\)/);
  });

  test('a hanging exchange or Entra call times out (retryable); the caller’s abort is honoured', async (t) => {
    // AbortSignal.timeout's timer does not hold the event loop open; this test's doubles hold nothing either.
    const keepAlive = setInterval(() => {}, 1000);
    t.after(() => clearInterval(keepAlive));
    const hanging = ((_url: unknown, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)))) as typeof globalThis.fetch;
    const p = createAcrProvider(acrConfig.parse(SP) as AcrConfig, deps({ fetch: hanging }), entra([]), 50);
    const err = await rejection(p.mint());
    assert.equal(err.message, 'acr myregistry.azurecr.io: oauth2/exchange: timed out after 0.05 s');
    assert.equal(err.retryable, true);

    const slowEntra: GetEntraToken = () => new Promise(() => {}); // a library that never stops
    const e2 = await rejection(createAcrProvider(acrConfig.parse(SP) as AcrConfig, deps(), slowEntra, 50).mint());
    assert.equal(e2.message, 'acr myregistry.azurecr.io: Entra token (client secret): timed out after 0.05 s');
    assert.equal(e2.retryable, true);

    const ctl = new AbortController();
    const pending = createAcrProvider(acrConfig.parse(SP) as AcrConfig, deps({ fetch: hanging }), entra([]), 60_000).mint(ctl.signal);
    setTimeout(() => ctl.abort(), 10);
    const e3 = await rejection(pending);
    assert.equal(e3.message, 'acr myregistry.azurecr.io: oauth2/exchange: aborted');
  });

  test('a network failure is retryable and names the call', async () => {
    const fetch = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    }) as typeof globalThis.fetch;
    const err = await rejection(provider(SP, deps({ fetch }), entra([])).mint());
    assert.equal(err.retryable, true);
    assert.equal(err.message, 'acr myregistry.azurecr.io: oauth2/exchange: network error ECONNREFUSED');
  });
});

describe('acr Entra errors', () => {
  const where = 'acr myregistry.azurecr.io: Entra token (client secret)';
  // The shape @azure/identity 4.13 throws for Entra's invalid_client (MSAL ServerError, rewrapped).
  const invalidSecret = Object.assign(
    new Error(
      'invalid_client: Error(s): 7000215 - Timestamp: 2030-01-01 00:00:00Z - Description: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. Trace ID: 0f1 Correlation ID: 2a3 Timestamp: 2030-01-01 00:00:00Z - Correlation ID: 4b5 - Trace ID: 6c7',
    ),
    { name: 'AuthenticationRequiredError' },
  );

  test('invalid client secret: permanent, the OAuth and AADSTS codes in the message, Entra’s text only in remoteDetail, no trace ids', async () => {
    const err = classifyEntraError(invalidSecret, where);
    assert.equal(err.retryable, false);
    assert.equal(err.message, `${where}: invalid_client AADSTS7000215`);
    assert.equal(
      err.remoteDetail,
      'invalid_client: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID',
    );
    // And through the provider, with the mode named.
    const e2 = await rejection(provider(SP, deps(), async () => Promise.reject(invalidSecret)).mint());
    assert.match(e2.message, /^acr myregistry\.azurecr\.io: Entra token \(client secret\): .*AADSTS7000215/);
  });

  test('AuthenticationError with a status: 400/401 permanent, 429/5xx retryable', () => {
    const authError = (statusCode: number, error: string, errorDescription: string) =>
      Object.assign(new Error(`${error} Status code: ${statusCode}\nMore details:\n${errorDescription},`), {
        name: 'AuthenticationError',
        statusCode,
        errorResponse: { error, errorDescription },
      });
    const grant = classifyEntraError(authError(400, 'invalid_grant', 'AADSTS700213: No matching federated identity record found.'), where);
    assert.equal(grant.retryable, false);
    assert.equal(grant.message, `${where}: invalid_grant AADSTS700213 HTTP 400`);
    assert.equal(grant.remoteDetail, 'invalid_grant: AADSTS700213: No matching federated identity record found');
    assert.equal(classifyEntraError(authError(401, 'unknown_error', 'x'), where).retryable, false);
    assert.equal(classifyEntraError(authError(429, 'temporarily_unavailable', 'slow down'), where).retryable, true);
    assert.equal(classifyEntraError(authError(503, 'temporarily_unavailable', 'AADSTS90033: A transient error has occurred.'), where).retryable, true);
  });

  test('network trouble is retryable: unreachable IMDS, unresolvable authority, aborted', () => {
    const unreachable = Object.assign(new Error('ManagedIdentityCredential: Network unreachable. Message: connect EHOSTUNREACH 169.254.169.254:80'), {
      name: 'CredentialUnavailableError',
    });
    assert.equal(classifyEntraError(unreachable, where).retryable, true);
    const discovery = Object.assign(new Error('endpoints_resolution_error: See https://aka.ms/msal.js.errors#endpoints_resolution_error for details'), {
      name: 'CredentialUnavailableError',
    });
    const d = classifyEntraError(discovery, where);
    assert.equal(d.retryable, true);
    assert.match(d.message, /OpenID configuration: network, TLS trust or authorityHost/);
    assert.equal(classifyEntraError(Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }), where).retryable, true);
  });

  test('an unavailable managed identity or an unknown identity: permanent', () => {
    const notFound = Object.assign(
      new Error('ManagedIdentityCredential: Authentication failed. Message invalid_request: Error(s): Not Available - Timestamp: Not Available - Description: Identity not found - Correlation ID: Not Available - Trace ID: Not Available'),
      { name: 'CredentialUnavailableError' },
    );
    const err = classifyEntraError(notFound, 'acr r: Entra token (managed identity)');
    assert.equal(err.retryable, false);
    assert.equal(err.message, 'acr r: Entra token (managed identity): invalid_request');
    assert.equal(err.remoteDetail, 'ManagedIdentityCredential: Authentication failed. Message invalid_request: Identity not found');
    const odd = classifyEntraError(new Error('something odd'), where);
    assert.equal(odd.message, `${where}: Error`);
    assert.equal(odd.remoteDetail, 'something odd');
    assert.equal(classifyEntraError(undefined, where).retryable, false);
  });

  test('a secret inside a library message is scrubbed from what is printed', async () => {
    const leaky = Object.assign(new Error(`invalid_client: echoed ${SECRET}`), { name: 'AuthenticationError', statusCode: 401 });
    const err = await rejection(provider(SP, deps(), async () => Promise.reject(leaky)).mint());
    assert.ok(!scrub(err.message).includes(SECRET));
  });
});
