// Azure doubles for the `acr` provider's tests, with the TLS material they serve:
//  - Microsoft Entra (HTTPS, a test CA: MSAL refuses plain-http authorities): the OpenID discovery
//    document MSAL reads, and the v2.0 token endpoint's client-credentials grant with a client
//    secret or a client assertion (a service-account JWT, verified RS256 against the real API
//    server's JWKS: iss, aud, sub, exp), as in
//    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow ;
//  - IMDS (plain http, as the real one at 169.254.169.254): the managed-identity token endpoint,
//    reached through AZURE_POD_IDENTITY_AUTHORITY_HOST, which MSAL honours as the IMDS base URL;
//  - the ACR token server's POST /oauth2/exchange (HTTPS), as in
//    https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md: checks the form and that the access
//    token is one Entra or IMDS issued, answers an ACR refresh token (a JWT, exp now + 3 h), or
//    {"errors":[...]} for registries configured to refuse.
// Entra and ACR share one HTTPS server (told apart by path). Processes that call them need the
// test CA: NODE_EXTRA_CA_CERTS=<caPath> in a child's environment.

import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, randomUUID, verify, type webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenLoopback } from './http-util.js';
import { rememberSecret } from '../leak-guard.js';

export interface TestTls {
  dir: string;
  caPath: string;
  ca: string;
  key: string;
  cert: string;
}

/** A CA and a serving certificate for 127.0.0.1 / localhost, made with openssl (as controlplane.ts does). */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-azure-tls-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=regcred-azure-test-ca']);
  writeFileSync(join(dir, 'serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=azure-double']);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'serving.ext']);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { dir, caPath: join(dir, 'ca.crt'), ca: read('ca.crt'), key: read('server.key'), cert: read('server.crt') };
}

/** A JWT-shaped token with a random signature (the doubles' own tokens: never verified by anyone else). */
export function fakeJwt(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT', kid: 'double' })}.${b64(payload)}.${randomBytes(64).toString('base64url')}`;
}

export interface ServicePrincipal {
  tenantId: string;
  clientId: string;
  /** Accepted client secret (client-credentials with client_secret). */
  secret?: string;
  /** Accepted client assertion subject (system:serviceaccount:<ns>:<name>) for federated credentials. */
  federatedSubject?: string;
}

export interface AzureDoublesOptions {
  /** App registrations Entra knows. */
  principals: ServicePrincipal[];
  /** The scope every Entra token request must carry. */
  scope: string;
  /** For client assertions: the API server's issuer and JWKS (fetched with `ca`, anonymously). */
  assertion?: { issuer: string; jwksUri: string; ca: string; audience: string };
  /** Managed identities IMDS hands tokens for: client id (or "system") → tenant. */
  managedIdentities?: Record<string, string>;
  /** Registries the ACR double serves (`service` values). */
  registries: string[];
  /** Registries whose exchange answers with this status and ACR error body. */
  refusing?: Record<string, { status: number; errors: { code: string; message: string }[] }>;
}

export interface RecordedRequest {
  server: 'entra' | 'imds' | 'acr';
  method: string;
  path: string;
  form: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  outcome: string;
}

export interface AzureDoubles {
  tls: TestTls;
  /** https://127.0.0.1:<port>: the Entra authority host (authorityHost) and ACR exchange endpoint. */
  authorityHost: string;
  acrEndpoint: string;
  /** http://127.0.0.1:<port>: for AZURE_POD_IDENTITY_AUTHORITY_HOST. */
  imdsHost: string;
  requests: RecordedRequest[];
  /** Entra/IMDS access tokens issued, by token: tenant and client. */
  issued: Map<string, { tenant: string; clientId: string }>;
  /** ACR refresh tokens issued, by token: registry and expiry. */
  refreshTokens: Map<string, { registry: string; exp: number }>;
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function getJson(url: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, method: 'GET' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${text}`));
        else {
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err as Error);
          }
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Verifies a service-account JWT against the API server's JWKS; returns its claims or a reason. */
async function verifyServiceAccountJwt(
  jwt: string,
  opts: NonNullable<AzureDoublesOptions['assertion']>,
): Promise<{ ok: true; claims: Record<string, unknown> } | { ok: false; reason: string }> {
  const parts = jwt.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'not a JWT' };
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string; kid?: string };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string; kid?: string };
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'undecodable JWT' };
  }
  if (header.alg !== 'RS256') return { ok: false, reason: `alg ${header.alg}` };
  const jwks = (await getJson(opts.jwksUri, opts.ca)) as { keys?: (webcrypto.JsonWebKey & { kid?: string })[] };
  const key = jwks.keys?.find((k) => k.kid === header.kid);
  if (!key) return { ok: false, reason: 'no JWKS key with the token’s kid' };
  const good = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key, format: 'jwk' }), Buffer.from(s, 'base64url'));
  if (!good) return { ok: false, reason: 'bad signature' };
  if (claims['iss'] !== opts.issuer) return { ok: false, reason: `iss ${String(claims['iss'])}` };
  const aud = claims['aud'];
  if (!(Array.isArray(aud) ? aud.includes(opts.audience) : aud === opts.audience)) return { ok: false, reason: `aud ${JSON.stringify(aud)}` };
  if (typeof claims['exp'] !== 'number' || claims['exp'] * 1000 <= Date.now()) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

export async function startAzureDoubles(opts: AzureDoublesOptions): Promise<AzureDoubles> {
  for (const sp of opts.principals) rememberSecret(sp.secret);
  const tls = makeTestTls();
  const requests: RecordedRequest[] = [];
  const issued = new Map<string, { tenant: string; clientId: string }>();
  const refreshTokens = new Map<string, { registry: string; exp: number }>();
  let base = '';

  const record = (server: RecordedRequest['server'], req: IncomingMessage, form: Record<string, string>, outcome: string) =>
    requests.push({ server, method: req.method ?? '', path: req.url ?? '', form, headers: req.headers, outcome });

  const issue = (tenant: string, clientId: string): string => {
    const now = Math.floor(Date.now() / 1000);
    const token = fakeJwt({
      aud: opts.scope.replace(/\/?\.default$/, ''),
      iss: `https://sts.windows.net/${tenant}/`,
      tid: tenant,
      appid: clientId,
      iat: now,
      exp: now + 3600,
      uti: randomUUID(),
    });
    issued.set(token, { tenant, clientId });
    rememberSecret(token);
    return token;
  };

  const entraError = (res: ServerResponse, status: number, error: string, code: number, text: string) =>
    json(res, status, {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    });

  async function entra(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    // GET /<tenant>/v2.0/.well-known/openid-configuration: where MSAL finds the token endpoint.
    const disc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (req.method === 'GET' && disc) {
      const tenant = disc[1]!;
      record('entra', req, {}, 'discovery');
      json(res, 200, {
        token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
        issuer: `${base}/${tenant}/v2.0`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      });
      return;
    }
    const tok = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (req.method !== 'POST' || !tok) {
      record('entra', req, {}, 'not found');
      json(res, 404, { error: 'not_found', error_description: `no route ${req.method} ${path}` });
      return;
    }
    const tenant = tok[1]!;
    const form = Object.fromEntries(new URLSearchParams(await body(req)));
    const fail = (status: number, error: string, code: number, text: string) => {
      record('entra', req, form, `${error} ${code}`);
      entraError(res, status, error, code, text);
    };
    const sp = opts.principals.find((p) => p.tenantId === tenant && p.clientId === form['client_id']);
    if (!opts.principals.some((p) => p.tenantId === tenant)) return fail(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    if (!sp) return fail(400, 'unauthorized_client', 700016, `Application with identifier '${form['client_id'] ?? ''}' was not found in the directory.`);
    if (form['grant_type'] !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    if (form['scope'] !== opts.scope) return fail(400, 'invalid_scope', 1002012, `The provided value for scope ${form['scope'] ?? ''} is not valid.`);
    if (form['client_secret'] !== undefined) {
      if (sp.secret === undefined || form['client_secret'] !== sp.secret) {
        return fail(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
      }
    } else if (form['client_assertion'] !== undefined) {
      if (form['client_assertion_type'] !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return fail(400, 'invalid_request', 50027, 'Invalid client_assertion_type.');
      }
      if (!opts.assertion) return fail(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
      const v = await verifyServiceAccountJwt(form['client_assertion'], opts.assertion);
      if (!v.ok) return fail(400, 'invalid_client', 700211, `No matching federated identity record found for presented assertion (${v.reason}).`);
      if (sp.federatedSubject === undefined || v.claims['sub'] !== sp.federatedSubject) {
        return fail(400, 'invalid_client', 700213, `No matching federated identity record found for presented assertion subject '${String(v.claims['sub'])}'.`);
      }
    } else {
      return fail(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const token = issue(tenant, sp.clientId);
    record('entra', req, form, form['client_secret'] !== undefined ? 'issued (secret)' : 'issued (assertion)');
    json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
  }

  async function acr(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = Object.fromEntries(new URLSearchParams(await body(req)));
    const fail = (status: number, code: string, message: string) => {
      record('acr', req, form, `${status} ${code}`);
      json(res, status, { errors: [{ code, message }] });
    };
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return fail(400, 'UNSUPPORTED', 'content type must be a form');
    if (form['grant_type'] !== 'access_token') return fail(400, 'UNSUPPORTED', `unsupported grant_type ${form['grant_type'] ?? ''}`);
    const service = form['service'] ?? '';
    if (!opts.registries.includes(service) && !opts.refusing?.[service]) return fail(400, 'NAME_UNKNOWN', `registry ${service} not found`);
    const aad = issued.get(form['access_token'] ?? '');
    if (!aad) return fail(401, 'UNAUTHORIZED', 'the access token is not valid');
    if (form['tenant'] !== undefined && form['tenant'] !== aad.tenant) return fail(401, 'UNAUTHORIZED', 'the tenant does not match the access token');
    const refusal = opts.refusing?.[service];
    if (refusal) {
      record('acr', req, form, `${refusal.status} ${refusal.errors[0]?.code ?? ''}`);
      json(res, refusal.status, { errors: refusal.errors });
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = now + 3 * 3600;
    const refresh = fakeJwt({
      jti: randomUUID(),
      sub: aad.clientId,
      nbf: now,
      exp,
      iat: now,
      iss: 'Azure Container Registry',
      aud: service,
      version: '1.0',
      grant_type: 'refresh_token',
      tenant: aad.tenant,
    });
    refreshTokens.set(refresh, { registry: service, exp });
    rememberSecret(refresh);
    record('acr', req, form, 'issued');
    json(res, 200, { refresh_token: refresh });
  }

  const https = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const handler = req.method === 'POST' && path === '/oauth2/exchange' ? acr(req, res) : entra(req, res, path);
    handler.catch((err: unknown) => json(res, 500, { error: 'server_error', error_description: String(err) }));
  });

  const imds = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://imds');
    const q = Object.fromEntries(url.searchParams);
    const fail = (status: number, error: string, text: string) => {
      record('imds', req, q, `${status} ${error}`);
      json(res, status, { error, error_description: text });
    };
    if (req.method !== 'GET' || url.pathname.replace(/\/$/, '') !== '/metadata/identity/oauth2/token') return fail(404, 'not_found', `no route ${url.pathname}`);
    if (req.headers['metadata'] !== 'true') return fail(400, 'invalid_request', 'Required metadata header not specified');
    if (q['api-version'] !== '2018-02-01') return fail(400, 'invalid_request', `api-version ${q['api-version'] ?? ''}`);
    const resource = opts.scope.replace(/\/?\.default$/, '');
    if (q['resource'] !== resource && q['resource'] !== `${resource}/`) return fail(400, 'invalid_resource', `resource ${q['resource'] ?? ''}`);
    const id = q['client_id'] ?? 'system';
    const tenant = opts.managedIdentities?.[id];
    if (!tenant) return fail(400, 'invalid_request', `Identity not found: ${id}`);
    const token = issue(tenant, id);
    record('imds', req, q, 'issued');
    const now = Math.floor(Date.now() / 1000);
    json(res, 200, {
      access_token: token,
      client_id: id,
      expires_in: '3599',
      expires_on: String(now + 3599),
      ext_expires_in: '3599',
      not_before: String(now),
      resource: q['resource'],
      token_type: 'Bearer',
    });
  });

  const [httpsServer, imdsServer] = await Promise.all([listenLoopback(https), listenLoopback(imds)]);
  base = `https://127.0.0.1:${httpsServer.port}`;
  return {
    tls,
    authorityHost: base,
    acrEndpoint: base,
    imdsHost: `http://127.0.0.1:${imdsServer.port}`,
    requests,
    issued,
    refreshTokens,
    async stop() {
      await Promise.all([httpsServer.stop(), imdsServer.stop()]);
      rmSync(tls.dir, { recursive: true, force: true });
    },
  };
}
