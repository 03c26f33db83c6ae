import { createHash } from 'node:crypto';
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Credentials, ResolvedCredentials, TlsMaterial } from './credentials.js';
import type { RequestLimiter } from './rate-limit.js';
import { http } from '../../util/node-http.js';

// JSON over HTTPS to one API server, on keep-alive connections, as client-go's transport: one pool
// per cluster, a connection cap. node:https rather than undici: measured on Node 26 for this,
// undici 8 held 26 MB more RSS after the same 200 requests (85 against 60 MB) and used about a
// quarter more CPU for 5,000 JSON PUTs, and the controller's memory is what matters here.
// - API requests share `maxSockets` connections (more wait for a free one) and take a token of
//   the rate limit first; each has a deadline (default 60 s) and may be aborted by a signal.
// - Watches run on connections of their own, without a cap, so a handful of long-lived streams
//   never hold the requests up.
// - A response other than 2xx is a KubeApiError: the status code, the metav1.Status body, the headers.

/** How long an API connection may stay idle in the pool (client-go's transport: 90 s). */
export const IDLE_CONNECTION_MS = 30_000;

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The URL path below the server's, already encoded: /api/v1/namespaces/x. */
  path: string;
  query?: Query | undefined;
  /** Sent as JSON. */
  body?: unknown;
  /** Default application/json; patches name their type. */
  contentType?: string | undefined;
  accept?: string | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/** The API server's answer when it is not a success. Field names as client-node's ApiException. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    /** The HTTP status. */
    readonly code: number,
    message: string,
    /** metav1.Status when the body was JSON, else its text. */
    readonly body: unknown,
    readonly headers: Record<string, string>,
  ) {
    super(message);
  }

  get statusCode(): number {
    return this.code;
  }
}

/** client-node's Watch.watch signature, which the informer was written against. */
export type WatchFn = (
  path: string,
  params: Query,
  onEvent: (type: string, obj: any) => void,
  onDone: (err: unknown) => void,
) => Promise<AbortController>;

export interface KubeHttpOptions {
  limiter?: RequestLimiter | undefined;
  maxSockets?: number | undefined;
  timeoutMs?: number | undefined;
  /** How long an API connection may stay idle in the pool (default IDLE_CONNECTION_MS). */
  idleConnectionMs?: number | undefined;
}

const USER_AGENT = 'regcred';

export class KubeHttp {
  private readonly agents = new Map<'api' | 'watch', { key: string; agent: HttpAgent; auth: ResolvedCredentials }>();
  /** The TLS context of the current material, shared by every connection of both agents. */
  private context: { key: string; secureContext: SecureContext } | undefined;

  constructor(
    private readonly credentials: Credentials,
    private readonly opts: KubeHttpOptions = {},
  ) {}

  /** Sends one request; resolves with the parsed JSON body (undefined when empty). */
  async request<T>(req: KubeRequest): Promise<T> {
    await this.opts.limiter?.wait();
    const auth = await this.credentials.current();
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string | number> = { ...auth.headers, Accept: req.accept ?? 'application/json', 'User-Agent': USER_AGENT };
    if (payload) {
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const res = await exchange(auth.server, this.agent('api', auth), { method: req.method, path: url(auth.server, req.path, req.query), headers, signal: req.signal }, payload, req.timeoutMs ?? this.opts.timeoutMs ?? 60_000);
    if (res.status >= 200 && res.status < 300) return (res.body.length > 0 ? JSON.parse(res.body.toString('utf8')) : undefined) as T;
    throw this.failure(res.status, res.headers, res.body);
  }

  /** A watch (newline-delimited JSON events), for the informer: resolves once the server answered. */
  readonly watch = async (path: string, params: Query, onEvent: (type: string, obj: any) => void, onDone: (err: unknown) => void, accept = 'application/json'): Promise<AbortController> => {
    const controller = new AbortController();
    let done = false;
    const finish = (err: unknown) => {
      if (done) return;
      done = true;
      controller.abort();
      onDone(err);
    };
    try {
      const auth = await this.credentials.current();
      const headers = { ...auth.headers, Accept: accept, 'User-Agent': USER_AGENT };
      const res = await open(auth.server, this.agent('watch', auth), { method: 'GET', path: url(auth.server, path, { ...params, watch: true }), headers, signal: controller.signal });
      if (res.statusCode !== 200) {
        const body = await readAll(res);
        finish(this.failure(res.statusCode ?? 0, res.headers, body));
        return controller;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!line.trim()) continue;
          let event: { type?: string; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            continue; // one line that is not JSON does not end an otherwise healthy stream
          }
          if (!done) onEvent(event.type ?? '', event.object);
        }
      });
      res.on('end', () => finish(null));
      res.on('close', () => finish(controller.signal.aborted ? null : res.complete ? null : new Error('watch connection closed')));
      res.on('error', (err) => finish(controller.signal.aborted ? null : err));
    } catch (err) {
      finish(controller.signal.aborted ? null : err);
    }
    return controller;
  };

  /** Closes every connection (tests; a process that exits needs nothing). */
  close(): void {
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private failure(status: number, headers: IncomingHttpHeaders, raw: Buffer): KubeApiError {
    if (status === 401) this.credentials.invalidate();
    const text = raw.toString('utf8');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not a Status: keep the text
    }
    const message = (body as { message?: unknown } | null)?.message;
    return new KubeApiError(status, `HTTP ${status}${typeof message === 'string' && message ? `: ${message}` : ''}`, body, flatHeaders(headers));
  }

  /** The agent for these credentials; a new one when the TLS material changed (rotated files, a new exec certificate). */
  private agent(kind: 'api' | 'watch', auth: ResolvedCredentials): HttpAgent {
    const held = this.agents.get(kind);
    if (held?.auth === auth) return held.agent;
    const key = fingerprint(auth.server, auth.tls);
    if (held?.key === key) {
      held.auth = auth;
      return held.agent;
    }
    const max = kind === 'api' ? (this.opts.maxSockets ?? 32) : Infinity;
    // An idle API connection closes (node's Agent destroys a free socket on its timeout): a fan-out
    // opens up to `max`, and each kept TLS connection holds about 150 KB of native memory.
    const idle = kind === 'api' ? { timeout: this.opts.idleConnectionMs ?? IDLE_CONNECTION_MS } : {};
    const base = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: max, maxFreeSockets: kind === 'api' ? max : 16, scheduling: 'lifo' as const, ...idle };
    const agent = auth.server.protocol === 'http:' ? new http.Agent(base) : new HttpsAgent({ ...base, ...this.tlsOptions(key, auth.tls) });
    this.agents.set(kind, { key, agent, auth });
    // Requests and watches still on the old connections finish (or fail and are retried); then they go.
    if (held) setTimeout(() => held.agent.destroy(), 60_000).unref();
    return agent;
  }

  /**
   * One SecureContext for every connection: without it each TLS connection parses the CA, the
   * certificate and the key again into a context of its own (native memory held per connection),
   * and the agent keys every request by those PEM strings.
   */
  private tlsOptions(key: string, tls: TlsMaterial): { secureContext: SecureContext; rejectUnauthorized?: boolean; servername?: string } {
    const { rejectUnauthorized, servername, ...material } = definedOnly(tls);
    if (this.context?.key !== key) this.context = { key, secureContext: createSecureContext(material) };
    return { secureContext: this.context.secureContext, ...(rejectUnauthorized !== undefined ? { rejectUnauthorized } : {}), ...(servername ? { servername } : {}) };
  }
}

function definedOnly(tls: TlsMaterial): TlsMaterial {
  return Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)) as TlsMaterial;
}

function fingerprint(server: URL, tls: TlsMaterial): string {
  const h = createHash('sha256').update(server.origin);
  for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) h.update(`\0${k}=`).update(String(tls[k] ?? ''));
  return h.digest('hex');
}

function url(server: URL, path: string, query: Query | undefined): string {
  let out = server.pathname.replace(/\/+$/, '') + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    const s = q.toString();
    if (s) out += `?${s}`;
  }
  return out;
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

interface Outgoing {
  method: string;
  path: string;
  headers: Record<string, string | number>;
  signal?: AbortSignal | undefined;
}

/** Sends the request; resolves with the response once its headers arrived. */
function open(server: URL, agent: HttpAgent, o: Outgoing, payload?: Buffer, onRequest?: (req: ReturnType<typeof http.request>) => void): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = server.protocol === 'http:' ? http.request : httpsRequest;
    const req = send({ protocol: server.protocol, hostname: server.hostname.replace(/^\[|\]$/g, ''), port: server.port, agent, ...o }, resolve);
    req.on('error', reject);
    onRequest?.(req);
    req.end(payload);
  });
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('close', () => (res.complete ? resolve(Buffer.concat(chunks)) : reject(new Error('connection closed before the response ended'))));
  });
}

/** One request and its whole response, within `timeoutMs`. */
async function exchange(server: URL, agent: HttpAgent, o: Outgoing, payload: Buffer | undefined, timeoutMs: number): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  let req: ReturnType<typeof http.request> | undefined;
  let timedOut: Error | undefined;
  const timer = setTimeout(() => {
    timedOut = new Error(`the API server did not answer within ${timeoutMs} ms`);
    req?.destroy(timedOut);
  }, timeoutMs);
  try {
    const res = await open(server, agent, o, payload, (r) => (req = r));
    const body = await readAll(res);
    return { status: res.statusCode ?? 0, headers: res.headers, body };
  } catch (err) {
    throw timedOut ?? err;
  } finally {
    clearTimeout(timer);
  }
}
