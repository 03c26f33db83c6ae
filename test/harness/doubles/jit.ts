// A local stand-in for the two Jit API calls regcred makes, as Jit's own docker login script makes
// them (jitsecurity/ide-pre-commit-hooks README, "Jit Docker Login Script"; API tokens:
// https://docs.jit.io/docs/managing-users#generating-api-tokens):
//   POST /authentication/login            JSON {"clientId", "secret"} -> {"accessToken"}
//   POST /ide/registry/authenticate       Authorization: Bearer <accessToken> -> {"username", "password", "registry_url"}
// It verifies what it receives: the login body's client id and secret (401 on wrong ones), and that
// the bearer token of /ide/registry/authenticate is one it issued (401 otherwise). `failWith` makes
// the next requests fail with a given status (a 503 outage, say). Every request is recorded.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { listenLoopback, readBody } from './http-util.js';
import { rememberLogin, rememberSecret } from '../leak-guard.js';

export interface JitRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: string;
  status: number;
}

export interface JitDouble {
  baseUrl: string;
  requests: JitRequest[];
  /** The client credentials logins must present. */
  expect: { clientId: string; secret: string };
  /** What /ide/registry/authenticate answers (the password is fresh per call). */
  username: string;
  registryUrl: string;
  /** Every password handed out, newest last. */
  passwords: string[];
  /** Every access token issued, newest last. */
  accessTokens: string[];
  /** While set, every request fails with this status (after being recorded). */
  failWith: number | undefined;
  stop(): Promise<void>;
}

export async function startJitDouble(opts: { clientId: string; secret: string; registryUrl?: string; username?: string }): Promise<JitDouble> {
  rememberSecret(opts.secret);
  const issued = new Set<string>();
  const double = {
    baseUrl: '',
    requests: [] as JitRequest[],
    expect: { clientId: opts.clientId, secret: opts.secret },
    username: opts.username ?? 'jit-registry-user',
    registryUrl: opts.registryUrl ?? 'registry.jit.io/jit-controls',
    passwords: [] as string[],
    accessTokens: [] as string[],
    failWith: undefined as number | undefined,
    stop: async () => {},
  };

  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const rec: JitRequest = {
        method: req.method ?? '',
        path,
        contentType: req.headers['content-type'],
        authorization: req.headers['authorization'],
        body,
        status: 0,
      };
      double.requests.push(rec);
      const reply = (status: number, json: unknown) => {
        rec.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (double.failWith !== undefined) return reply(double.failWith, { message: 'Service Unavailable' });
      if (req.method !== 'POST') return reply(405, { message: `method ${req.method} not allowed` });

      if (path === '/authentication/login') {
        if (!/^application\/json\b/.test(rec.contentType ?? '')) return reply(415, { message: 'content-type must be application/json' });
        let login: { clientId?: unknown; secret?: unknown };
        try {
          login = JSON.parse(body) as typeof login;
        } catch {
          return reply(400, { message: 'body is not JSON' });
        }
        if (typeof login.clientId !== 'string' || typeof login.secret !== 'string') return reply(400, { message: 'clientId and secret are required' });
        if (login.clientId !== double.expect.clientId || login.secret !== double.expect.secret) return reply(401, { message: 'Invalid client credentials' });
        const accessToken = `jitat-${randomBytes(24).toString('base64url')}`;
        issued.add(accessToken);
        double.accessTokens.push(accessToken);
        rememberSecret(accessToken);
        return reply(200, { accessToken, tokenType: 'Bearer' });
      }

      if (path === '/ide/registry/authenticate') {
        const m = /^Bearer (\S+)$/.exec(rec.authorization ?? '');
        if (!m) return reply(401, { message: 'Missing bearer token' });
        if (!issued.has(m[1]!)) return reply(401, { message: 'Invalid access token' });
        const password = `jitpw-${randomBytes(24).toString('base64url')}`;
        double.passwords.push(password);
        rememberLogin(double.username, password);
        return reply(200, { username: double.username, password, registry_url: double.registryUrl });
      }

      return reply(404, { message: `no route for ${path}` });
    });
  });
  const { port, stop } = await listenLoopback(server);
  double.baseUrl = `http://127.0.0.1:${port}`;
  double.stop = stop;
  return double;
}
