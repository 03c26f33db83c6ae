// A minimal Kubernetes API client for the benchmark: node:https, one keep-alive Agent, the admin
// client certificate. Only node: imports, so the raw-client contender starts as fast as Node can.

import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Api {
  server: string;
  agent: Agent;
  /** Requests sent through this client, by method. */
  sent: Record<string, number>;
}

/** A client for the control plane in `dir` (ca.crt, admin.crt, admin.key) at `server`. */
export function connect(server: string, dir: string, maxSockets = 16): Api {
  const agent = new Agent({
    keepAlive: true,
    maxSockets,
    ca: readFileSync(join(dir, 'ca.crt')),
    cert: readFileSync(join(dir, 'admin.crt')),
    key: readFileSync(join(dir, 'admin.key')),
  });
  return { server, agent, sent: {} };
}

export interface Response {
  status: number;
  text: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function call(api: Api, method: string, path: string, body?: unknown): Promise<Response> {
  api.sent[method] = (api.sent[method] ?? 0) + 1;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${api.server}${path}`,
      {
        method,
        agent: api.agent,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like `call`, but a status outside 2xx (and not in `allow`) is an error; returns the parsed JSON. */
export async function callJson<T = unknown>(api: Api, method: string, path: string, body?: unknown, allow: number[] = []): Promise<{ status: number; json: T }> {
  const res = await call(api, method, path, body);
  if ((res.status < 200 || res.status > 299) && !allow.includes(res.status)) {
    throw new ApiError(res.status, `${method} ${path}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  }
  return { status: res.status, json: (res.text ? JSON.parse(res.text) : undefined) as T };
}

/** Runs `work` over `items` with at most `limit` in flight (the same pool shape as regcred's). */
export async function pool<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface SecretLike {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

export const q = encodeURIComponent;

/** The same `.dockerconfigjson` bytes regcred and `kubectl create secret docker-registry` write. */
export function dockerConfigJson(registry: string, username: string, password: string): string {
  return JSON.stringify({
    auths: { [registry]: { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') } },
  });
}

// ---- apiserver_request_total -------------------------------------------------------------------

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The `apiserver_request_total` series from GET /metrics. */
export async function requestTotals(api: Api): Promise<Sample[]> {
  const res = await call(api, 'GET', '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const out: Sample[] = [];
  for (const line of res.text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice('apiserver_request_total{'.length, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

const key = (l: Record<string, string>) => JSON.stringify(Object.entries(l).sort());

/** after - before, per series, dropping series that did not move. */
export function diff(before: Sample[], after: Sample[]): Sample[] {
  const was = new Map(before.map((s) => [key(s.labels), s.value]));
  return after.map((s) => ({ labels: s.labels, value: s.value - (was.get(key(s.labels)) ?? 0) })).filter((s) => s.value > 0);
}

export const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'DELETECOLLECTION', 'APPLY', 'CREATE', 'UPDATE']);

export interface RequestCounts {
  /** Write requests on secrets, whatever their status (a DELETE answered 404 counts). */
  secretWrites: number;
  /** Of those, the ones answered 2xx. */
  secretWrites2xx: number;
  secretReads: number;
  /** Every resource request (any resource, any verb but WATCH) in the interval, background included. */
  allRequests: number;
  /** secrets, by "VERB code". */
  secretsByVerb: Record<string, number>;
}

export function summarize(delta: Sample[]): RequestCounts {
  const c: RequestCounts = { secretWrites: 0, secretWrites2xx: 0, secretReads: 0, allRequests: 0, secretsByVerb: {} };
  for (const { labels, value } of delta) {
    const verb = (labels['verb'] ?? '').toUpperCase();
    if (labels['resource'] && verb !== 'WATCH') c.allRequests += value;
    if (labels['resource'] !== 'secrets' || labels['group'] !== '') continue;
    const k = `${verb} ${labels['code']}`;
    c.secretsByVerb[k] = (c.secretsByVerb[k] ?? 0) + value;
    if (WRITE_VERBS.has(verb)) {
      c.secretWrites += value;
      if (String(labels['code']).startsWith('2')) c.secretWrites2xx += value;
    } else if (verb !== 'WATCH') c.secretReads += value;
  }
  return c;
}
