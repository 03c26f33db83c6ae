// A generic registry token broker, the kind of in-house service the `http` provider talks to
// (a Harbor robot-account rotator, a Vault plugin endpoint, a company STS). It VERIFIES what it
// receives the way such a broker does: the method and path, the headers whose values come from a
// Secret (exact values), and, when configured, a Kubernetes service-account bearer token checked
// against the real API server's JWKS (sa-token.ts: signature, issuer, audience, expiry, subject),
// as brokers that trust a cluster's service accounts do
// (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-tokens,
// OIDC discovery: https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery).
// It answers JSON:
//   {"data": {"username": "...", "password": "...",
//             "expires_at": "<RFC 3339>", "expires_at_epoch": <Unix seconds>, "expires_in": <seconds>}}
// (the expiry fields only when the credential has an expiry), so a test picks the expiry format
// through the provider's paths ($.data.expires_at, $.data.expires_at_epoch, $.data.expires_in).
// Failure modes (`fail`): an HTTP status (503, 500, ...), 'hang' (never answers), 'oversized'
// (streams up to 64 MiB of JSON without Content-Length, counting what it could send), 'not-json'.
//
// Also meant for the registry end-to-end tests (a broker that rotates a docker-registry htpasswd
// password): `rotate` mints a fresh credential per successful request, and `onIssue` sees each one
// before it is answered (write it into the htpasswd file there).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenLoopback } from './http-util.js';
import { verifyServiceAccountToken, type Jwks } from './sa-token.js';
import { rememberLogin, rememberSecret } from '../leak-guard.js';

export interface BrokerCredential {
  username: string;
  password: string;
  /** Absent: the answer carries no expiry fields. */
  expiresAt?: Date | undefined;
}

export interface HttpBrokerOptions {
  /** The token endpoint's path; default "/token". */
  path?: string;
  /** The only method accepted; default GET or POST. */
  method?: 'GET' | 'POST';
  /** Headers that must be present with exactly these values (names case-insensitive), e.g. an API key from a Secret. */
  requiredHeaders?: Record<string, string>;
  /** Require a Kubernetes service-account token as `<header>: Bearer <token>`, verified against the API server's JWKS. */
  serviceAccountToken?: {
    jwks: Jwks | (() => Promise<Jwks>);
    issuer: string;
    audience: string;
    /** Allowed `sub` values (system:serviceaccount:<ns>:<name>); any when absent. */
    subjects?: readonly string[];
    /** Default "authorization". */
    header?: string;
  };
  /** Checks the request body; returns why it is refused (400), or undefined. */
  checkBody?: (body: string) => string | undefined;
  /** The first credential; default a random one expiring in an hour. */
  credential?: BrokerCredential;
  /** A fresh credential for every successful request: true (random, same lifetime as the first) or a factory. */
  rotate?: boolean | ((previous: BrokerCredential) => BrokerCredential);
  /** Called with each credential before it is answered (e.g. to write an htpasswd file). */
  onIssue?: (credential: BrokerCredential) => void | Promise<void>;
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (see `caPath`). */
  tls?: boolean;
}

export interface BrokerRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Why the broker refused it; undefined when it answered with a credential (or a failure mode). */
  rejected?: string | undefined;
  /** The verified service-account token's claims. */
  tokenClaims?: Record<string, unknown> | undefined;
}

export type FailureMode = number | 'hang' | 'oversized' | 'not-json';

export interface HttpBroker {
  /** The token endpoint: origin + path. */
  url: string;
  origin: string;
  /** With `tls`: the certificate to trust (NODE_EXTRA_CA_CERTS for a child process). */
  caPath?: string | undefined;
  /** Every request received, in order. */
  requests: BrokerRequest[];
  /** Every credential answered, in order. */
  issued: BrokerCredential[];
  /** The current credential. */
  readonly credential: BrokerCredential;
  /** Bytes written by the 'oversized' mode before the client hung up. */
  readonly oversizedBytesSent: number;
  setCredential(username: string, password: string, expiresAt?: Date): void;
  /** From now on answer with this failure; null: answer normally again. */
  fail(mode: FailureMode | null): void;
  stop(): Promise<void>;
}

const OVERSIZED_LIMIT = 64 * 1024 * 1024;
const HOUR_MS = 3600_000;

function randomCredential(lifetimeMs: number | undefined): BrokerCredential {
  return {
    username: `robot$regcred-${randomBytes(3).toString('hex')}`,
    password: `brk_${randomBytes(24).toString('base64url')}`,
    expiresAt: lifetimeMs === undefined ? undefined : new Date(Date.now() + lifetimeMs),
  };
}

function selfSignedCertificate(): { key: string; cert: string; certPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-broker-tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath };
}

function rememberCredential(c: BrokerCredential): void {
  rememberLogin(c.username, c.password);
}

export function answerBody(c: BrokerCredential): Record<string, unknown> {
  const data: Record<string, unknown> = { username: c.username, password: c.password };
  if (c.expiresAt) {
    data['expires_at'] = c.expiresAt.toISOString();
    data['expires_at_epoch'] = Math.floor(c.expiresAt.getTime() / 1000);
    data['expires_in'] = Math.max(0, Math.floor((c.expiresAt.getTime() - Date.now()) / 1000));
  }
  return { data };
}

export async function startHttpBroker(opts: HttpBrokerOptions = {}): Promise<HttpBroker> {
  const path = opts.path ?? '/token';
  let current: BrokerCredential = opts.credential ?? randomCredential(HOUR_MS);
  rememberCredential(current);
  // Header values that authenticate (API keys, bearer tokens); not e.g. an Accept header.
  for (const [name, value] of Object.entries(opts.requiredHeaders ?? {})) if (/auth|key|token|secret/i.test(name)) rememberSecret(value);
  const lifetimeMs = current.expiresAt ? Math.max(60_000, current.expiresAt.getTime() - Date.now()) : undefined;
  let failure: FailureMode | null = null;
  let oversizedBytesSent = 0;
  const requests: BrokerRequest[] = [];
  const issued: BrokerCredential[] = [];

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  async function verify(req: IncomingMessage, record: BrokerRequest): Promise<{ status: number; error: string; message: string } | undefined> {
    if (req.url?.split('?')[0] !== path) return { status: 404, error: 'not_found', message: `no such endpoint ${req.url?.split('?')[0] ?? ''}` };
    if (opts.method ? req.method !== opts.method : req.method !== 'GET' && req.method !== 'POST') {
      return { status: 405, error: 'method_not_allowed', message: `method ${req.method ?? ''} is not allowed` };
    }
    for (const [name, value] of Object.entries(opts.requiredHeaders ?? {})) {
      const got = req.headers[name.toLowerCase()];
      if (got === undefined) return { status: 401, error: 'unauthorized', message: `header ${name} is missing` };
      if (got !== value) return { status: 401, error: 'unauthorized', message: `header ${name} has the wrong value` };
    }
    const sa = opts.serviceAccountToken;
    if (sa) {
      const header = req.headers[(sa.header ?? 'authorization').toLowerCase()];
      const m = typeof header === 'string' ? /^Bearer (\S+)$/.exec(header) : null;
      if (!m) return { status: 401, error: 'invalid_token', message: `no bearer token in ${sa.header ?? 'Authorization'}` };
      const jwks = typeof sa.jwks === 'function' ? await sa.jwks() : sa.jwks;
      const checked = verifyServiceAccountToken(m[1]!, jwks, { issuer: sa.issuer, audience: sa.audience, ...(sa.subjects ? { subjects: sa.subjects } : {}) });
      if ('error' in checked) return { status: 401, error: 'invalid_token', message: checked.error };
      record.tokenClaims = checked.claims;
    }
    const bodyProblem = opts.checkBody?.(record.body);
    if (bodyProblem) return { status: 400, error: 'invalid_request', message: bodyProblem };
    return undefined;
  }

  async function oversized(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let closed = false;
    res.on('close', () => (closed = true));
    res.write('{"padding": "');
    while (!closed && oversizedBytesSent < OVERSIZED_LIMIT) {
      const ok = res.write(chunk);
      oversizedBytesSent += chunk.length;
      if (!ok) await new Promise<void>((r) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          r();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    if (!closed) res.end('"}');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += (chunk as Buffer).toString('utf8');
    const record: BrokerRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body };
    requests.push(record);
    const refused = await verify(req, record);
    if (refused) {
      record.rejected = refused.message;
      send(res, refused.status, { error: refused.error, message: refused.message });
      return;
    }
    const mode = failure;
    if (mode === 'hang') return; // never answered; stop() closes the connection
    if (mode === 'oversized') return oversized(res);
    if (mode === 'not-json') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Service temporarily redirected to maintenance page</body></html>');
      return;
    }
    if (typeof mode === 'number') {
      send(res, mode, { error: mode >= 500 ? 'server_error' : 'error', message: `the broker is failing on purpose (HTTP ${mode})` });
      return;
    }
    if (opts.rotate && issued.length > 0) {
      current = typeof opts.rotate === 'function' ? opts.rotate(current) : randomCredential(lifetimeMs);
    }
    rememberCredential(current);
    await opts.onIssue?.(current);
    issued.push({ ...current });
    send(res, 200, answerBody(current));
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: 'server_error', message: String(err) });
      else res.destroy();
    });
  };
  let server: Server;
  let caPath: string | undefined;
  if (opts.tls) {
    const tls = selfSignedCertificate();
    caPath = tls.certPath;
    server = createHttpsServer({ key: tls.key, cert: tls.cert }, listener);
  } else {
    server = createHttpServer(listener);
  }
  const { port, stop } = await listenLoopback(server);
  const origin = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  return {
    url: `${origin}${path}`,
    origin,
    caPath,
    requests,
    issued,
    get credential() {
      return current;
    },
    get oversizedBytesSent() {
      return oversizedBytesSent;
    },
    setCredential(username, password, expiresAt) {
      current = { username, password, expiresAt };
      rememberCredential(current);
    },
    fail(mode) {
      failure = mode;
    },
    stop,
  };
}
