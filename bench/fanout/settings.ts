// The fan-out benchmark's settings (the environment variables bench/fanout.ts lists), the fixed
// names it uses, and its log. Paths are relative to this file as compiled (dist/bench/fanout/).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

export const N = intEnv('BENCH_NAMESPACES', 1000);
export const K = Math.min(N, intEnv('BENCH_KUBECTL_SAMPLE', N, 0));
export const RUNS = intEnv('BENCH_RUNS', 3);
export const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 16);
export const KUBECTL = process.env['KUBECTL'] || 'kubectl';
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RESULTS_DIR = process.env['BENCH_RESULTS_DIR'] || join(ROOT, 'bench', 'results');
export const CLI = process.env['BENCH_REGCRED_CLI'] || fileURLToPath(new URL('../../regcred.mjs', import.meta.url));
export const UNBUNDLED_CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
export const UNBUNDLED = process.env['BENCH_UNBUNDLED'] !== '0' && CLI !== UNBUNDLED_CLI;
export const RAW_CLIENT = fileURLToPath(new URL('../raw-client.js', import.meta.url));
export const RAW_FOLLOWER = fileURLToPath(new URL('../raw-follower.js', import.meta.url));
export const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

export const SOURCE_NS = 'regcred-system';
export const SOURCE_NAME = 'bench-source';
export const REGISTRY = 'registry.bench.example:5000';
export const USERNAME = 'bench-robot';
export const NS_LABEL = { key: 'regcred-bench', value: 'fanout' };
export const NS_SELECTOR = `${NS_LABEL.key}=${NS_LABEL.value}`;

export const namespaces = Array.from({ length: N }, (_, i) => `bench-${String(i + 1).padStart(4, '0')}`);

const t0 = Date.now();
export const log = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
