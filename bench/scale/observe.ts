// What the scale benchmark watches from outside the controller: when each namespace's pull Secret
// holds a given password (one cluster-wide watch, decoding each event's .dockerconfigjson), the
// controller's resident memory and heap, and how long a plain GET takes meanwhile.
import { readFileSync } from 'node:fs';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { callJson, type Api } from '../kubeapi.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function passwordOf(obj: { data?: Record<string, string> }): string | undefined {
  const raw = obj.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  try {
    const auths = (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }).auths ?? {};
    return Object.values(auths)[0]?.password;
  } catch {
    return undefined;
  }
}

/** Per namespace, the password its Secret holds and since when: a watch on Secrets of one name. */
export class SecretObserver {
  private readonly held = new Map<string, { password: string | undefined; since: number }>();
  private abort: AbortController | undefined;
  private stopped = false;

  constructor(private readonly kc: KubeConfig, private readonly secretName: string) {}

  async start(): Promise<void> {
    const onEvent = (type: string, obj: { metadata?: { namespace?: string }; data?: Record<string, string> }) => {
      const ns = obj.metadata?.namespace;
      if (!ns) return;
      if (type === 'DELETED') this.held.delete(ns);
      else if (type === 'ADDED' || type === 'MODIFIED') {
        const password = passwordOf(obj);
        if (this.held.get(ns)?.password !== password) this.held.set(ns, { password, since: Date.now() });
      }
    };
    // A watch that ends (an API server restart) starts again after a moment, from a fresh list.
    const run = async (): Promise<void> => {
      if (this.stopped) return;
      this.abort = await new Watch(this.kc).watch('/api/v1/secrets', { fieldSelector: `metadata.name=${this.secretName}` }, onEvent, () => {
        if (!this.stopped) setTimeout(() => void run(), 200);
      });
    };
    await run();
    await sleep(500);
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  /** When `namespace` first held `password` (undefined: not yet). */
  since(namespace: string, password: string): number | undefined {
    const h = this.held.get(namespace);
    return h?.password === password ? h.since : undefined;
  }

  /** Waits until no namespace holds the Secret; false on timeout. */
  async noneHeld(namespaces: readonly string[], timeoutMs: number): Promise<boolean> {
    for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
      if (namespaces.every((ns) => !this.held.has(ns))) return true;
    }
    return false;
  }

  /** Waits until every namespace holds `password`; the time the last one got it, or undefined on timeout. */
  async allHold(namespaces: readonly string[], password: string, timeoutMs: number): Promise<number | undefined> {
    for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
      let last = 0;
      let all = true;
      for (const ns of namespaces) {
        const t = this.since(ns, password);
        if (t === undefined) {
          all = false;
          break;
        }
        last = Math.max(last, t);
      }
      if (all) return last;
      await sleep(20);
    }
    return undefined;
  }
}

/** Resident memory of a process, MB: anonymous (heap, malloc) and file-backed (the node binary's pages, shared and reclaimable). */
export function rssPartsMB(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { anon: +kb('RssAnon').toFixed(1), file: +kb('RssFile').toFixed(1) };
}

/** Resident memory of a process, MB. */
export function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The lowest heap in use over `ms` (garbage collected in between), from the controller's /metrics. */
export async function settledHeapMB(metricsUrl: string, ms: number): Promise<number> {
  let low = Infinity;
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const text = await (await fetch(metricsUrl)).text();
    const v = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1]);
    if (Number.isFinite(v)) low = Math.min(low, v / 2 ** 20);
    await sleep(500);
  }
  return low;
}

/** GETs a small object every `everyMs` until stopped: what another client of the API server sees. */
export function getLatencyProbe(api: Api, everyMs = 100): { stop(): Promise<{ p50: number; p99: number; max: number; samples: number }> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await callJson(api, 'GET', '/api/v1/namespaces/default').catch(() => undefined);
      samples.push(performance.now() - t0);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const s = [...samples].sort((a, b) => a - b);
      return { p50: +percentile(s, 50).toFixed(1), p99: +percentile(s, 99).toFixed(1), max: +(s.at(-1) ?? NaN).toFixed(1), samples: s.length };
    },
  };
}
