// Local doubles of the Google endpoints the `gcp` provider calls, on one loopback HTTP server. Each
// checks requests the way Google documents them and answers in Google's shapes:
//
// - OAuth 2.0 token endpoint, service-account JWT bearer flow (POST /token):
//   https://developers.google.com/identity/protocols/oauth2/service-account#httprest
//   form grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer & assertion=<RS256 JWT>; the JWT
//   claims iss (the key's client_email), scope (space-separated) or target_audience, aud (the
//   token_uri), iat, exp (at most an hour after iat). Answers {access_token, expires_in, token_type};
//   a bad signature or unknown issuer is 400 {"error":"invalid_grant","error_description":"Invalid JWT Signature."}.
// - Metadata server (GET /computeMetadata/v1/instance/service-accounts/<default|email>/token):
//   https://cloud.google.com/compute/docs/metadata/querying-metadata
//   requires the request header `Metadata-Flavor: Google` (403 without), answers with that header
//   and {access_token, expires_in, token_type}.
// - Security Token Service (POST /v1/token):
//   https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
//   form grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token_type
//   urn:ietf:params:oauth:token-type:jwt, audience //iam.googleapis.com/projects/N/locations/global/
//   workloadIdentityPools/P/providers/X, requested_token_type urn:ietf:params:oauth:token-type:access_token,
//   scope, subject_token. The subject token is verified like Google verifies an OIDC provider's token:
//   RS256 signature against the issuer's JWKS (here the API server's /openid/v1/jwks), iss, aud, exp,
//   and sub in the allowed set. Answers {access_token, issued_token_type, token_type, expires_in}.
// - IAM Credentials generateAccessToken (POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken):
//   https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
//   Authorization: Bearer <an STS token of this double>, body {scope: [...], lifetime: "3600s"};
//   answers {accessToken, expireTime}; an email the caller may not impersonate is 403 PERMISSION_DENIED.
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLoopback, readBody } from './http-util.js';
import { verifyJwt, type Jwks } from './sa-token.js';
import { rememberSecret } from '../leak-guard.js';

export interface GcpDoublesOptions {
  /** Service-account keys the token endpoint accepts: client_email → public key. */
  keys?: Map<string, KeyObject>;
  /** Users' Application Default Credentials it accepts (refresh-token grant): client_id → secret and refresh token. */
  users?: Map<string, { clientSecret: string; refreshToken: string }>;
  /** The subject-token issuer's JWKS (the API server's), fetched per STS call. */
  fetchJwks?: () => Promise<Jwks>;
  /** The subject token's expected `iss`. */
  issuer?: string;
  /** STS: the expected `audience` (pool provider) and the subject token's expected `aud`. */
  stsAudience?: string;
  subjectTokenAudience?: string;
  /** STS: the Kubernetes service accounts allowed (`system:serviceaccount:<ns>:<name>`). */
  allowedSubjects?: string[];
  /** IAM Credentials: the Google service accounts the federated principal may impersonate. */
  impersonable?: string[];
  /** expires_in of every token handed out (seconds); default 3599, Google's usual. */
  expiresIn?: number;
}

export interface GcpDoubles {
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, for GCE_METADATA_HOST. */
  host: string;
  tokenUri: string;
  /** Every access token handed out, by kind. */
  issued: { key: string[]; metadata: string[]; sts: string[]; iam: string[] };
  /** Metadata requests refused for a missing Metadata-Flavor header. */
  metadataRejected: number;
  /** The claims of every accepted JWT assertion, the forms of every STS call, the bodies of every generateAccessToken. */
  assertions: Array<Record<string, unknown>>;
  stsRequests: Array<Record<string, string>>;
  stsSubjects: Array<Record<string, unknown>>;
  iamRequests: Array<{ email: string; body: Record<string, unknown> }>;
  metadataRequests: Array<{ account: string; scopes: string | null }>;
  /** Answers the next N calls of a route with this status (for error tests). */
  failNext(route: 'token' | 'metadata' | 'sts' | 'iam', status: number, body: unknown, times?: number): void;
  stop(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

function oauthError(res: ServerResponse, status: number, error: string, description: string): void {
  send(res, status, { error, error_description: description });
}

export { verifyJwt };

/** A fresh access token, remembered as a secret. */
function token(prefix: string): string {
  const t = `${prefix}.${randomBytes(24).toString('base64url')}`;
  rememberSecret(t);
  return t;
}

export async function startGcpDoubles(opts: GcpDoublesOptions = {}): Promise<GcpDoubles> {
  const expiresIn = opts.expiresIn ?? 3599;
  for (const u of opts.users?.values() ?? []) rememberSecret(u.clientSecret, u.refreshToken);
  const failures = new Map<string, { status: number; body: unknown; times: number }>();
  let url = '';
  const d = {
    issued: { key: [] as string[], metadata: [] as string[], sts: [] as string[], iam: [] as string[] },
    metadataRejected: 0,
    assertions: [] as Array<Record<string, unknown>>,
    stsRequests: [] as Array<Record<string, string>>,
    stsSubjects: [] as Array<Record<string, unknown>>,
    iamRequests: [] as Array<{ email: string; body: Record<string, unknown> }>,
    metadataRequests: [] as Array<{ account: string; scopes: string | null }>,
  };

  const failing = (route: string, res: ServerResponse): boolean => {
    const f = failures.get(route);
    if (!f || f.times <= 0) return false;
    f.times--;
    const headers: Record<string, string> = route === 'metadata' ? { 'metadata-flavor': 'Google' } : {};
    if (typeof f.body === 'string') {
      res.writeHead(f.status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(f.body);
    } else send(res, f.status, f.body, headers);
    return true;
  };

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    if (failing('token', res)) return;
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return oauthError(res, 400, 'invalid_request', 'content-type must be application/x-www-form-urlencoded');
    }
    if (form.get('grant_type') === 'refresh_token') {
      // A user's Application Default Credentials (RFC 6749 §6; https://developers.google.com/identity/protocols/oauth2/web-server#offline).
      const user = opts.users?.get(form.get('client_id') ?? '');
      if (!user || user.clientSecret !== form.get('client_secret')) return oauthError(res, 401, 'invalid_client', 'The OAuth client was not found.');
      if (user.refreshToken !== form.get('refresh_token')) return oauthError(res, 400, 'invalid_grant', 'Token has been expired or revoked.');
      const t = token('ya29.user');
      d.issued.key.push(t);
      return send(res, 200, { access_token: t, expires_in: expiresIn, token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/cloud-platform' });
    }
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return oauthError(res, 400, 'unsupported_grant_type', 'Invalid grant_type');
    }
    const checked = verifyJwt(form.get('assertion') ?? '', (_h, claims) => opts.keys?.get(String(claims['iss'])));
    if ('error' in checked) return oauthError(res, 400, 'invalid_grant', checked.error === 'no key for this JWT' ? 'Invalid grant: account not found' : 'Invalid JWT Signature.');
    const c = checked.claims;
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(c['iat']);
    const exp = Number(c['exp']);
    if (c['aud'] !== `${url}/token`) return oauthError(res, 400, 'invalid_grant', `Invalid JWT: aud must be the token_uri ${url}/token`);
    if (!Number.isInteger(iat) || !Number.isInteger(exp) || Math.abs(iat - now) > 300 || exp <= iat || exp - iat > 3600) {
      return oauthError(res, 400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    }
    if (typeof c['scope'] !== 'string' && typeof c['target_audience'] !== 'string') {
      return oauthError(res, 400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    d.assertions.push(c);
    const t = token('ya29.key');
    d.issued.key.push(t);
    send(res, 200, { access_token: t, expires_in: expiresIn, token_type: 'Bearer' });
  }

  function metadata(req: IncomingMessage, res: ServerResponse, account: string, u: URL): void {
    if (req.headers['metadata-flavor'] !== 'Google') {
      d.metadataRejected++;
      res.writeHead(403, { 'content-type': 'text/html; charset=UTF-8' });
      res.end('Missing required header: Metadata-Flavor\n');
      return;
    }
    if (failing('metadata', res)) return;
    d.metadataRequests.push({ account, scopes: u.searchParams.get('scopes') });
    if (account !== 'default' && !account.includes('@')) {
      res.writeHead(404, { 'metadata-flavor': 'Google' });
      res.end('Not Found\n');
      return;
    }
    const t = token('ya29.metadata');
    d.issued.metadata.push(t);
    send(res, 200, { access_token: t, expires_in: expiresIn, token_type: 'Bearer' }, { 'metadata-flavor': 'Google' });
  }

  async function sts(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    if (failing('sts', res)) return;
    d.stsRequests.push({ ...form, subject_token: '<redacted>' });
    const want: Record<string, string> = {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    };
    for (const [k, v] of Object.entries(want)) if (form[k] !== v) return oauthError(res, 400, 'invalid_request', `Invalid value for "${k}"`);
    if (!form['scope']) return oauthError(res, 400, 'invalid_request', 'scope is required');
    if (!opts.stsAudience || form['audience'] !== opts.stsAudience) return oauthError(res, 400, 'invalid_target', 'The target service indicated by the "audience" parameters is invalid.');
    if (!opts.fetchJwks) return oauthError(res, 500, 'server_error', 'no JWKS configured');
    const jwks = await opts.fetchJwks();
    const checked = verifyJwt(form['subject_token'] ?? '', (header) => {
      const jwk = jwks.keys.find((k) => (k as { kid?: string }).kid === header['kid']) ?? (jwks.keys.length === 1 ? jwks.keys[0] : undefined);
      return jwk ? createPublicKey({ key: jwk, format: 'jwk' }) : undefined;
    });
    if ('error' in checked) return oauthError(res, 400, 'invalid_grant', `The subject token failed verification: ${checked.error}`);
    const c = checked.claims;
    const aud = Array.isArray(c['aud']) ? (c['aud'] as unknown[]) : [c['aud']];
    if (c['iss'] !== opts.issuer) return oauthError(res, 400, 'invalid_grant', 'The issuer in ID Token does not match the expected value.');
    if (!aud.includes(opts.subjectTokenAudience)) return oauthError(res, 400, 'invalid_grant', 'The audience in ID Token does not match the expected audience.');
    if (typeof c['exp'] !== 'number' || c['exp'] <= Date.now() / 1000) return oauthError(res, 400, 'invalid_grant', 'ID Token has expired.');
    if (!(opts.allowedSubjects ?? []).includes(String(c['sub']))) return oauthError(res, 403, 'access_denied', 'The caller does not have permission (subject not allowed).');
    d.stsSubjects.push(c);
    const t = token('ya29.sts');
    d.issued.sts.push(t);
    send(res, 200, { access_token: t, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: expiresIn });
  }

  async function iam(req: IncomingMessage, res: ServerResponse, email: string): Promise<void> {
    const raw = await readBody(req);
    if (failing('iam', res)) return;
    const bearer = /^Bearer (.+)$/.exec(req.headers['authorization'] ?? '')?.[1];
    if (!bearer || !d.issued.sts.includes(bearer)) {
      return send(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return send(res, 400, { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } });
    }
    if (!Array.isArray(body['scope']) || body['scope'].length === 0) {
      return send(res, 400, { error: { code: 400, message: 'Scope required.', status: 'INVALID_ARGUMENT' } });
    }
    if (!(opts.impersonable ?? []).includes(email)) {
      return send(res, 403, { error: { code: 403, message: "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", status: 'PERMISSION_DENIED' } });
    }
    d.iamRequests.push({ email, body });
    const lifetime = typeof body['lifetime'] === 'string' ? Number.parseInt(body['lifetime'], 10) : 3600;
    const t = token('ya29.iam');
    d.issued.iam.push(t);
    send(res, 200, { accessToken: t, expireTime: new Date(Date.now() + lifetime * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') });
  }

  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    const md = /^\/computeMetadata\/v1\/instance\/service-accounts\/([^/]+)\/token$/.exec(u.pathname);
    const gen = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(u.pathname);
    const handle = async () => {
      if (req.method === 'POST' && u.pathname === '/token') return tokenEndpoint(req, res);
      if (req.method === 'GET' && md) return metadata(req, res, decodeURIComponent(md[1]!), u);
      if (req.method === 'POST' && u.pathname === '/v1/token') return sts(req, res);
      if (req.method === 'POST' && gen) return iam(req, res, decodeURIComponent(gen[1]!));
      send(res, 404, { error: 'not_found' });
    };
    handle().catch((err: unknown) => send(res, 500, { error: 'server_error', error_description: String(err) }));
  });
  const { port, stop } = await listenLoopback(server);
  url = `http://127.0.0.1:${port}`;
  return Object.assign(d, {
    url,
    host: `127.0.0.1:${port}`,
    tokenUri: `${url}/token`,
    failNext(route: 'token' | 'metadata' | 'sts' | 'iam', status: number, body: unknown, times = 1) {
      failures.set(route, { status, body, times });
    },
    stop,
  });
}
