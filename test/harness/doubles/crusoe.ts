// A local stand-in for the Crusoe API calls regcred makes, in the wire format of Crusoe's published
// client (crusoecloud/client-go swagger/v1: api_ccr.go CreateCcrToken, api_limited_usage_api_key.go
// GetLimitedUsageAPIKeys / DeleteLimitedUsageAPIKey, model_limited_usage_api_key_info.go):
//   POST   /v1alpha5/ccr/tokens                          {"expires_at", "alias"?} -> {"token"}
//   GET    /v1alpha5/users/limited-usage-api-key         -> {"items": [{key_id, alias, created_at, expires_at, last_used, usage}]}
//   DELETE /v1alpha5/users/limited-usage-api-key?key_id=<id>
// Every request must be signed as https://docs.crusoecloud.com/reference/api ("Authentication")
// describes and terraform-provider-crusoe internal/common/auth.go implements: the double recomputes
// HMAC-SHA256 over "<path>\n<canonical query>\n<METHOD>\n<timestamp>\n" with the base64url-decoded
// secret key and answers 401 {"code": "bad_credentials", "message"} on an unknown access key, a
// wrong signature, or an X-Crusoe-Timestamp that is not RFC 3339 or more than 5 minutes off.
// The token request's JSON body is checked: expires_at must be an RFC 3339 time in the future.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { listenLoopback, readBody } from './http-util.js';
import { rememberSecret } from '../leak-guard.js';

export const CRUSOE_TOKENS_PATH = '/v1alpha5/ccr/tokens';
export const CRUSOE_KEYS_PATH = '/v1alpha5/users/limited-usage-api-key';
const MAX_SKEW_MS = 5 * 60_000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export interface CrusoeRequest {
  method: string;
  path: string;
  rawQuery: string;
  timestamp: string | undefined;
  accessKey: string | undefined;
  signatureValid: boolean;
  body: string;
  status: number;
  error?: string;
}

/** A stored token, as the list shows it (plus the token itself, which the list never shows). */
export interface CrusoeToken {
  key_id: string;
  alias: string;
  created_at: string;
  expires_at: string;
  last_used: string;
  usage: string;
  token: string;
}

export interface CrusoeDouble {
  baseUrl: string;
  requests: CrusoeRequest[];
  /** The key pair requests must be signed with. */
  expect: { accessKey: string; secretKey: string };
  /** Every token that exists, in creation order. */
  tokens: CrusoeToken[];
  /** Every token ever minted (deleted ones too), newest last. */
  minted: CrusoeToken[];
  /** Adds a token minted elsewhere (another alias or usage, or an expired one). */
  seed(t: Partial<CrusoeToken> & { alias: string }): CrusoeToken;
  /** While set, every request fails with this status (after being recorded). */
  failWith: number | undefined;
  stop(): Promise<void>;
}

/** Go's url.QueryEscape. */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** The canonical form of a raw query, as the Crusoe signer builds it: unescape, sort by key, re-escape. */
function canonicalize(rawQuery: string): string {
  const values = new Map<string, string[]>();
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const unescape = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    const k = unescape(eq >= 0 ? part.slice(0, eq) : part);
    const v = unescape(eq >= 0 ? part.slice(eq + 1) : '');
    values.set(k, [...(values.get(k) ?? []), v]);
  }
  return [...values.keys()]
    .sort()
    .flatMap((k) => values.get(k)!.map((v) => `${queryEscape(k)}=${queryEscape(v)}`))
    .join('&');
}

export async function startCrusoeDouble(expect: { accessKey: string; secretKey: string }): Promise<CrusoeDouble> {
  rememberSecret(expect.secretKey);
  const double = {
    baseUrl: '',
    requests: [] as CrusoeRequest[],
    expect,
    tokens: [] as CrusoeToken[],
    minted: [] as CrusoeToken[],
    failWith: undefined as number | undefined,
    seed(t: Partial<CrusoeToken> & { alias: string }): CrusoeToken {
      const entry: CrusoeToken = {
        key_id: randomUUID(),
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        last_used: '',
        usage: 'registry',
        token: `seeded-${randomBytes(12).toString('hex')}`,
        ...t,
      };
      double.tokens.push(entry);
      return entry;
    },
    stop: async () => {},
  };

  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q >= 0 ? url.slice(0, q) : url;
      const rawQuery = q >= 0 ? url.slice(q + 1) : '';
      const timestamp = req.headers['x-crusoe-timestamp'] as string | undefined;
      const rec: CrusoeRequest = { method: req.method ?? '', path, rawQuery, timestamp, accessKey: undefined, signatureValid: false, body, status: 0 };
      double.requests.push(rec);
      const reply = (status: number, json?: unknown) => {
        rec.status = status;
        if (json === undefined) {
          res.writeHead(status);
          res.end();
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      const fail = (status: number, code: string, message: string) => {
        rec.error = `${code}: ${message}`;
        reply(status, { code, message });
      };
      if (double.failWith !== undefined) return fail(double.failWith, 'service_unavailable', 'the service is temporarily unavailable');

      // Authentication.
      const m = /^Bearer 1\.0:([^:]+):([A-Za-z0-9_-]+)$/.exec(req.headers['authorization'] ?? '');
      if (!m) return fail(401, 'bad_credentials', 'missing or malformed Authorization header');
      rec.accessKey = m[1];
      if (!timestamp || !RFC3339.test(timestamp)) return fail(401, 'bad_credentials', 'X-Crusoe-Timestamp must be an RFC 3339 time');
      const skew = Date.now() - Date.parse(timestamp);
      if (!(Math.abs(skew) <= MAX_SKEW_MS)) return fail(401, 'bad_credentials', 'the request timestamp is too old or too far in the future');
      if (m[1] !== double.expect.accessKey) return fail(401, 'bad_credentials', 'unknown access key');
      const payload = `${path}\n${canonicalize(rawQuery)}\n${req.method}\n${timestamp}\n`;
      const want = createHmac('sha256', Buffer.from(double.expect.secretKey, 'base64url')).update(payload).digest('base64url');
      rec.signatureValid = want === m[2];
      if (!rec.signatureValid) return fail(401, 'bad_credentials', 'the request signature does not match');

      if (path === CRUSOE_TOKENS_PATH && req.method === 'POST') {
        if (!/^application\/json\b/.test(String(req.headers['content-type'] ?? ''))) return fail(400, 'bad_request', 'content-type must be application/json');
        let reqBody: { expires_at?: unknown; alias?: unknown };
        try {
          reqBody = JSON.parse(body) as typeof reqBody;
        } catch {
          return fail(400, 'bad_request', 'the body is not JSON');
        }
        if (typeof reqBody !== 'object' || reqBody === null) return fail(400, 'bad_request', 'the body is not a JSON object');
        const extra = Object.keys(reqBody).filter((k) => k !== 'expires_at' && k !== 'alias');
        if (extra.length > 0) return fail(400, 'bad_request', `unknown field(s) ${extra.join(', ')}`);
        if (typeof reqBody.expires_at !== 'string' || !RFC3339.test(reqBody.expires_at)) return fail(400, 'bad_request', 'expires_at must be an RFC 3339 time');
        if (Date.parse(reqBody.expires_at) <= Date.now()) return fail(400, 'bad_request', 'expires_at must be in the future');
        if (reqBody.alias !== undefined && typeof reqBody.alias !== 'string') return fail(400, 'bad_request', 'alias must be a string');
        const token: CrusoeToken = {
          key_id: randomUUID(),
          alias: reqBody.alias ?? '',
          created_at: new Date().toISOString(),
          expires_at: new Date(Date.parse(reqBody.expires_at)).toISOString().replace(/\.000Z$/, 'Z'),
          last_used: '',
          usage: 'registry',
          token: `ccr-${randomBytes(24).toString('base64url')}`,
        };
        double.tokens.push(token);
        double.minted.push(token);
        rememberSecret(token.token);
        return reply(200, { token: token.token });
      }

      if (path === CRUSOE_KEYS_PATH && req.method === 'GET') {
        return reply(200, { items: double.tokens.map(({ token: _t, ...info }) => info) });
      }

      if (path === CRUSOE_KEYS_PATH && req.method === 'DELETE') {
        const ids = new URLSearchParams(rawQuery).getAll('key_id');
        if (ids.length !== 1) return fail(400, 'bad_request', 'exactly one key_id is required');
        const i = double.tokens.findIndex((t) => t.key_id === ids[0]);
        if (i < 0) return fail(404, 'not_found', 'no such key');
        double.tokens.splice(i, 1);
        return reply(204);
      }

      return fail(404, 'not_found', `no route for ${req.method} ${path}`);
    });
  });
  const { port, stop } = await listenLoopback(server);
  double.baseUrl = `http://127.0.0.1:${port}`;
  double.stop = stop;
  return double;
}
