import { RegcredError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { KubeClient } from './api/client.js';
import { ContextError, NoKubeconfig, loadKubeconfig } from './api/config.js';
import type { CoreApi } from './api/resources.js';
import { DEFAULT_KUBE_BURST, DEFAULT_KUBE_QPS } from './api/rate-limit.js';

export interface KubeOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Client-side rate limit (--kube-qps, --kube-burst; api/rate-limit.ts); 0 or less: none. */
  kubeQps?: number | undefined;
  kubeBurst?: number | undefined;
}

/**
 * The cluster of --kubeconfig (else $KUBECONFIG, ~/.kube/config or the in-cluster service
 * account) and --context: a connection of its own (a pool of keep-alive connections), its
 * requests rate-limited.
 */
export function loadKubeConfig(opts: KubeOptions = {}, log?: Logger): KubeClient {
  let config;
  try {
    config = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context });
  } catch (err) {
    if (err instanceof ContextError) throw new RegcredError('InvalidSpec', err.message);
    throw new RegcredError('InvalidSpec', `cannot load kubeconfig${opts.kubeconfig ? ` ${opts.kubeconfig}` : ''}: ${(err as Error).message.split('\n')[0]}`);
  }
  // No kubeconfig at all is not an error yet: a command that needs no cluster runs; requests fail, saying why.
  if (!(config instanceof NoKubeconfig) && !config.getCurrentCluster()) throw new RegcredError('InvalidSpec', 'kubeconfig has no current cluster');
  return new KubeClient(config, { rateLimit: { qps: opts.kubeQps ?? DEFAULT_KUBE_QPS, burst: opts.kubeBurst ?? DEFAULT_KUBE_BURST }, log });
}

export interface KubeClients {
  kube: KubeClient;
  core: CoreApi;
}

export function createClients(kube: KubeClient): KubeClients {
  return { kube, core: kube.core };
}

/** An error the API server answered: ours (api/http.ts KubeApiError), or one of the same shape from another client. */
interface ApiErrorShape {
  code: number;
  body?: unknown;
  headers?: Record<string, string> | undefined;
}

function apiError(err: unknown): ApiErrorShape | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & Partial<ApiErrorShape>;
  return typeof e.code === 'number' && 'headers' in e ? (e as ApiErrorShape) : undefined;
}

/** The HTTP status of an API error, or undefined for network errors. */
export function statusCode(err: unknown): number | undefined {
  return apiError(err)?.code;
}

/** The API server's own message (metav1.Status.message), which names objects but never their data. */
export function apiMessage(err: unknown): string {
  const api = apiError(err);
  if (api) {
    const body: unknown = typeof api.body === 'string' ? safeJson(api.body) : api.body;
    const msg = (body as { message?: unknown } | undefined)?.message;
    if (typeof msg === 'string' && msg) return msg;
    return `HTTP ${api.code}`;
  }
  if (err instanceof Error) return err.message.split('\n')[0] ?? 'error';
  return String(err);
}

export function apiReason(err: unknown): string | undefined {
  const api = apiError(err);
  if (!api) return undefined;
  const body: unknown = typeof api.body === 'string' ? safeJson(api.body) : api.body;
  const reason = (body as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' ? reason : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Throttling, server trouble and network failures may pass; everything else needs a change. */
export function isRetryableApiError(err: unknown): boolean {
  const code = statusCode(err);
  if (code === undefined) return true; // connection refused, reset, timeout
  return code === 429 || code >= 500;
}

/** Turns an API error into a RegcredError with a stable code and a one-line message. */
export function toRegcredError(err: unknown, what: string): RegcredError {
  if (err instanceof RegcredError) return err;
  const code = statusCode(err);
  let errCode: ErrorCode = 'ApiError';
  if (code === 403) errCode = 'Forbidden';
  return new RegcredError(errCode, `${what}: ${apiMessage(err)}`, isRetryableApiError(err), { cause: err });
}

export interface RetryOptions {
  /** Tries for server errors and network failures (default 5). */
  attempts?: number;
  /** Tries for 429 responses (default 10): throttling means "later", not "broken". */
  throttledAttempts?: number;
  /** Injected so tests never sleep. */
  sleep?: (ms: number) => Promise<void>;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs an API call, retrying throttling (429, honouring Retry-After), 5xx and network errors with
 * capped exponential backoff. Other errors are thrown at once.
 */
export async function withApiRetry<T>(call: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const throttledAttempts = opts.throttledAttempts ?? Math.max(10, attempts);
  const sleep = opts.sleep ?? realSleep;
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const limit = statusCode(err) === 429 ? throttledAttempts : attempts;
      if (attempt >= limit || !isRetryableApiError(err)) throw err;
      const retryAfter = retryAfterMs(err);
      const backoff = Math.min(max, base * 2 ** (attempt - 1));
      await sleep(retryAfter ?? backoff * (0.5 + Math.random() / 2));
    }
  }
}

/** Retry-After in milliseconds (seconds or an HTTP date), capped at a minute. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const api = apiError(err);
  if (!api) return undefined;
  const header = Object.entries(api.headers ?? {}).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.max(0, Math.min(ms, 60_000));
}
