import { createHash } from 'node:crypto';
import { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

// client-node 1.x builds a new https.Agent for every API request: no keep-alive, a full TLS
// handshake and a fresh TLS context each time, plus a synchronous re-read of the kubeconfig's
// certificate files. At thousands of writes that is most of the CPU time and hundreds of MB of RSS.
// Here client-node's authentication still runs (it re-reads rotating token files, runs exec and
// OIDC plugins), but at most once per `authTtlMs` per kubeconfig — client-go caches credentials
// the same way — and every request goes out on one shared keep-alive agent per TLS identity.
// (client-node has no option for this; a few lines here rather than a fork.)

const POOLED = Symbol.for('regcred.pooledAgents');

/**
 * A keep-alive agent that hands a freed socket to the next request one turn of the event loop later.
 * node-fetch 2 (client-node's HTTP client) decides that a chunked response ended early when, at the
 * response's 'close', its socket still has a 'data' listener; but Node's agent gives the socket to a
 * queued request as soon as the response ends, before that 'close', and the new request's listener
 * makes node-fetch fail the finished response with "Premature close". With requests queued for a
 * socket (more than maxSockets in flight) nearly every chunked response failed that way (396 of 400
 * over TLS when the body is read a moment later, as client-node does; test/unit/kube-pool.test.ts),
 * and was retried; deferring the hand-over lets 'close' run first.
 */
export class DeferredReleaseAgent extends Agent {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'free') {
      setImmediate(() => super.emit(event, ...args));
      return true;
    }
    return super.emit(event, ...args);
  }
}

interface RequestContextLike {
  getAgent(): unknown;
  setAgent(agent: unknown): void;
  setHeaderParam(key: string, value: string): void;
}

const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

function fingerprint(options: Record<string, unknown>): string {
  const h = createHash('sha256');
  for (const k of TLS_KEYS) {
    const v = options[k];
    h.update(`${k}=`);
    if (Buffer.isBuffer(v)) h.update(v);
    else if (v !== undefined) h.update(JSON.stringify(v));
    h.update('\0');
  }
  return h.digest('hex');
}

interface CachedAuth {
  at: number;
  context: string;
  headers: Record<string, string>;
  agent: unknown;
}

export interface PoolOptions {
  maxSockets?: number;
  /** How long one run of client-node's authentication is reused (default 60 s). */
  authTtlMs?: number;
  now?: () => number;
}

export function poolConnections(kc: KubeConfig, opts: PoolOptions = {}): KubeConfig {
  const target = kc as KubeConfig & { [POOLED]?: boolean };
  if (target[POOLED]) return kc;
  target[POOLED] = true;
  const maxSockets = opts.maxSockets ?? 32;
  const ttl = opts.authTtlMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const agents = new Map<string, Agent>();
  const original = kc.applySecurityAuthentication.bind(kc);
  let cached: CachedAuth | undefined;
  let pending: Promise<CachedAuth> | undefined;

  const authenticate = async (): Promise<CachedAuth> => {
    // Run client-node's own logic against a recorder, then keep what it decided.
    const headers: Record<string, string> = {};
    let agent: unknown;
    const recorder: RequestContextLike = {
      getAgent: () => agent,
      setAgent: (a) => (agent = a),
      setHeaderParam: (k, v) => (headers[k] = v),
    };
    await original(recorder as never);
    if (agent instanceof Agent && agent.constructor === Agent) {
      // Only plain HTTPS agents are pooled; proxies keep client-node's own agent.
      const options = (agent as Agent & { options: Record<string, unknown> }).options;
      const key = fingerprint(options);
      let shared = agents.get(key);
      if (!shared) {
        const tls: Record<string, unknown> = {};
        for (const k of TLS_KEYS) if (options[k] !== undefined) tls[k] = options[k];
        shared = new DeferredReleaseAgent({ ...tls, keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
        agents.set(key, shared);
      }
      agent = shared;
    }
    return { at: now(), context: kc.getCurrentContext(), headers, agent };
  };

  kc.applySecurityAuthentication = async (context) => {
    if (!cached || now() - cached.at >= ttl || cached.context !== kc.getCurrentContext()) {
      pending ??= authenticate().finally(() => (pending = undefined));
      cached = await pending;
    }
    const ctx = context as unknown as RequestContextLike;
    for (const [k, v] of Object.entries(cached.headers)) ctx.setHeaderParam(k, v);
    ctx.setAgent(cached.agent);
  };
  return kc;
}
