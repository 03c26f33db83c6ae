// `make bench`: fan-out of one registry credential into N namespaces, on one local control plane
// (test/harness/controlplane.ts), by three contenders:
//   (a) kubectl loop: per namespace `kubectl delete secret --ignore-not-found` + `kubectl create secret
//       docker-registry`, sequentially, from a bash script (what people run today);
//   (b) raw client: bench/raw-client.ts, plain node:https with one keep-alive Agent (the floor);
//   (c) regcred: `node dist/regcred.mjs sync` (the bundle users run) with a static ClusterRegistryCredential.
// Each is timed on a first sync (no Secrets exist) and a changed-credential sync (the source password
// changed); regcred also on a third pass with nothing changed. API writes are counted from the API
// server's own apiserver_request_total counters; client CPU from the contender's rusage (/usr/bin/time),
// server CPU from /proc for etcd + kube-apiserver + kube-controller-manager, and "other CPU" (the rest
// of the machine's busy time) to show when other work competed. A fourth row runs the same CLI from
// the compiled modules (`node dist/src/cli.js sync`, no bundle), for the start-up cost of loading
// ~1,500 modules; it is not part of the goals. See docs/benchmarks.md.
//
// Environment:
//   BENCH_NAMESPACES      N, the number of namespaces (default 1000)
//   BENCH_KUBECTL_SAMPLE  run the kubectl loop over K <= N namespaces and extrapolate linearly to N
//                         (default N: no extrapolation; 0 skips the kubectl loop)
//   BENCH_RUNS            repetitions of the raw-client and regcred measurements, median reported (default 3)
//   BENCH_CONCURRENCY     parallel writes for raw client and regcred (default 16, regcred's default)
//   BENCH_UNBUNDLED       0 skips the "regcred, unbundled" row (default 1)
//   BENCH_REGCRED_CLI     the regcred entry point to measure (default dist/regcred.mjs, the bundle)
//   KUBECTL               the kubectl binary (default: kubectl on PATH)
//   BENCH_RESULTS_DIR     where the JSON goes (default bench/results)

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, type ControlPlane } from '../test/harness/controlplane.js';
import { callJson, connect, diff, pool, q, requestTotals, summarize, type Api, type RequestCounts, type SecretLike } from './kubeapi.js';
import type { RawOptions, RawReport } from './raw-client.js';

// ---- settings ------------------------------------------------------------------------------------

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

const N = intEnv('BENCH_NAMESPACES', 1000);
const K = Math.min(N, intEnv('BENCH_KUBECTL_SAMPLE', N, 0));
const RUNS = intEnv('BENCH_RUNS', 3);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 16);
const KUBECTL = process.env['KUBECTL'] || 'kubectl';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = process.env['BENCH_RESULTS_DIR'] || join(ROOT, 'bench', 'results');
const CLI = process.env['BENCH_REGCRED_CLI'] || fileURLToPath(new URL('../regcred.mjs', import.meta.url));
const UNBUNDLED_CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const UNBUNDLED = process.env['BENCH_UNBUNDLED'] !== '0' && CLI !== UNBUNDLED_CLI;
const RAW_CLIENT = fileURLToPath(new URL('./raw-client.js', import.meta.url));
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const SOURCE_NS = 'regcred-system';
const SOURCE_NAME = 'bench-source';
const REGISTRY = 'registry.bench.example:5000';
const USERNAME = 'bench-robot';
const NS_LABEL = { key: 'regcred-bench', value: 'fanout' };
const NS_SELECTOR = `${NS_LABEL.key}=${NS_LABEL.value}`;

const namespaces = Array.from({ length: N }, (_, i) => `bench-${String(i + 1).padStart(4, '0')}`);

const t0 = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number | undefined, d = 3) => (x === undefined ? undefined : Number(x.toFixed(d)));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- subprocesses --------------------------------------------------------------------------------

let currentChild: ReturnType<typeof spawn> | undefined;
let currentTimeFile: string | undefined;

interface Proc {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  /** User + system CPU of the process and all its children (from /usr/bin/time), if available. */
  cpuSeconds?: number;
}

let timeFiles = 0;
/** Runs a command to completion; the time is from spawn to exit. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const timeFile = TIME ? join(tmpdir(), `regcred-bench-time-${process.pid}-${++timeFiles}`) : undefined;
  currentTimeFile = timeFile;
  const [file, argv] = TIME && timeFile ? [TIME, ['-f', '%U %S', '-o', timeFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const begin = process.hrtime.bigint();
    const child = spawn(file, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    currentChild = child;
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
      currentChild = undefined;
      const p: Proc = { code: code ?? -1, stdout, stderr, seconds };
      if (timeFile) {
        try {
          const [user, sys] = (readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
          if (Number.isFinite(user) && Number.isFinite(sys)) p.cpuSeconds = user! + sys!;
        } catch {
          // no rusage: the column stays empty
        }
        rmSync(timeFile, { force: true });
      }
      resolve(p);
    });
  });
}

function must(p: Proc, what: string): Proc {
  if (p.code !== 0) throw new Error(`${what} exited with ${p.code}:\n${(p.stderr || p.stdout).slice(-2000)}`);
  return p;
}

// ---- measurements --------------------------------------------------------------------------------

type Contender = 'kubectl loop' | 'raw client' | 'regcred' | 'regcred, unbundled';
type Phase = 'first sync' | 'changed sync' | 'unchanged sync';

interface Measurement {
  contender: Contender;
  phase: Phase;
  run: number;
  /** Namespaces actually written in this measurement (K for a sampled kubectl loop). */
  namespaces: number;
  seconds: number;
  /** The contender's CPU (user + system, children included). */
  clientCpuSeconds?: number;
  /** CPU used meanwhile by etcd + kube-apiserver + kube-controller-manager. */
  serverCpuSeconds?: number;
  /** 1-minute load average when the measurement started (it includes the kubectl loop's own threads). */
  loadBefore: number;
  /** CPU used meanwhile by everything else on the machine (/proc/stat busy time minus client and server). */
  otherCpuSeconds?: number;
  /** From apiserver_request_total, for the namespaces actually written. */
  metric: RequestCounts;
  /** The contender's own count of write requests, for the namespaces actually written. */
  ownWrites: number;
  detail?: unknown;
}

const measurements: Measurement[] = [];

async function measure(
  metricsApi: Api,
  contender: Contender,
  phase: Phase,
  runNo: number,
  count: number,
  work: () => Promise<{ proc: Proc; ownWrites: number; detail?: unknown }>,
): Promise<Measurement> {
  const loadBefore = loadavg()[0] ?? 0;
  const before = await requestTotals(metricsApi);
  const serverBefore = serverCpuSeconds();
  const busyBefore = machineBusySeconds();
  const r = await work();
  const busyAfter = machineBusySeconds();
  const serverAfter = serverCpuSeconds();
  const after = await requestTotals(metricsApi);
  const m: Measurement = {
    contender,
    phase,
    run: runNo,
    namespaces: count,
    seconds: r.proc.seconds,
    loadBefore,
    metric: summarize(diff(before, after)),
    ownWrites: r.ownWrites,
    detail: r.detail,
  };
  if (r.proc.cpuSeconds !== undefined) m.clientCpuSeconds = r.proc.cpuSeconds;
  if (serverBefore !== undefined && serverAfter !== undefined) m.serverCpuSeconds = serverAfter - serverBefore;
  if (busyBefore !== undefined && busyAfter !== undefined && m.clientCpuSeconds !== undefined && m.serverCpuSeconds !== undefined) {
    m.otherCpuSeconds = Math.max(0, busyAfter - busyBefore - m.clientCpuSeconds - m.serverCpuSeconds);
  }
  measurements.push(m);
  log(
    `${contender} / ${phase} (run ${runNo}, ${count} namespaces): ${m.seconds.toFixed(2)} s` +
      ` (client CPU ${m.clientCpuSeconds?.toFixed(2) ?? '?'} s, server CPU ${m.serverCpuSeconds?.toFixed(2) ?? '?'} s,` +
      ` other CPU ${m.otherCpuSeconds?.toFixed(2) ?? '?'} s, load ${loadBefore.toFixed(1)}), ` +
      `${m.metric.secretWrites} secret writes (${m.metric.secretWrites2xx} 2xx; own count ${m.ownWrites}), ${m.metric.secretReads} secret reads`,
  );
  return m;
}

// ---- server CPU ------------------------------------------------------------------------------------

let serverPids: number[] = [];
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** The control plane's processes: those whose command line names its temp folder. */
function findServerPids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(dir) && /(etcd|kube-apiserver|kube-controller-manager)\0/.test(cmdline)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Busy CPU time of the whole machine (all cores), in seconds, from /proc/stat. */
function machineBusySeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** utime + stime of the control-plane processes, in seconds; undefined without /proc. */
function serverCpuSeconds(): number | undefined {
  if (!serverPids.length) return undefined;
  let ticks = 0;
  for (const pid of serverPids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
    } catch {
      return undefined;
    }
  }
  return ticks / CLK_TCK;
}

/** Untimed check: the named Secret exists in `expected` bench namespaces and holds `password`. */
async function verify(api: Api, secretName: string, expected: readonly string[], password: string): Promise<void> {
  const list = await callJson<{ items: SecretLike[] }>(api, 'GET', `/api/v1/secrets?fieldSelector=${q(`metadata.name=${secretName}`)}`);
  const byNs = new Map(list.json.items.map((s) => [s.metadata.namespace, s]));
  const bad: string[] = [];
  for (const ns of expected) {
    const s = byNs.get(ns);
    const raw = s?.data?.['.dockerconfigjson'];
    const cfg = raw ? (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }) : undefined;
    if (s?.type !== 'kubernetes.io/dockerconfigjson' || cfg?.auths?.[REGISTRY]?.password !== password) bad.push(ns);
  }
  if (bad.length) throw new Error(`Secret ${secretName}: wrong or missing in ${bad.length} namespace(s), e.g. ${bad.slice(0, 3).join(', ')}`);
}

// ---- the contenders ------------------------------------------------------------------------------

interface Ctx {
  cp: ControlPlane;
  api: Api;
  metricsApi: Api;
  work: string;
  password: string;
}

async function kubectlLoop(ctx: Ctx, phase: Phase, secretName: string, sample: readonly string[]): Promise<void> {
  const list = join(ctx.work, `kubectl-${phase.replace(/\W/g, '-')}.txt`);
  writeFileSync(list, sample.join('\n') + '\n');
  // What the usual script does, one kubectl per step, strictly in sequence.
  const script = [
    'set -euo pipefail',
    'while read -r ns; do',
    '  "$KUBECTL" --kubeconfig "$KC" -n "$ns" delete secret "$NAME" --ignore-not-found >/dev/null',
    '  "$KUBECTL" --kubeconfig "$KC" -n "$ns" create secret docker-registry "$NAME" \\',
    '    --docker-server="$REGISTRY" --docker-username="$USERNAME" --docker-password="$PASSWORD" >/dev/null',
    `done < ${JSON.stringify(list)}`,
  ].join('\n');
  await measure(ctx.metricsApi, 'kubectl loop', phase, 1, sample.length, async () => {
    const proc = must(
      await run('bash', ['-c', script], {
        KUBECTL,
        KC: ctx.cp.kubeconfigPath,
        NAME: secretName,
        REGISTRY,
        USERNAME,
        PASSWORD: ctx.password,
      }),
      'kubectl loop',
    );
    return { proc, ownWrites: 2 * sample.length };
  });
  await verify(ctx.api, secretName, sample, ctx.password);
}

async function rawClient(ctx: Ctx, phase: Phase, runNo: number, secretName: string): Promise<void> {
  const opts: RawOptions = {
    server: ctx.cp.server,
    dir: ctx.cp.dir,
    mode: phase === 'first sync' ? 'create' : 'update',
    secretName,
    namespaceSelector: NS_SELECTOR,
    sourceNamespace: SOURCE_NS,
    sourceName: SOURCE_NAME,
    concurrency: CONCURRENCY,
  };
  await measure(ctx.metricsApi, 'raw client', phase, runNo, N, async () => {
    const proc = must(await run(process.execPath, [RAW_CLIENT, JSON.stringify(opts)]), 'raw client');
    const report = JSON.parse(proc.stdout.trim().split('\n').pop() ?? '{}') as RawReport;
    if (report.created + report.updated !== N) throw new Error(`raw client wrote ${report.created + report.updated} of ${N}`);
    return { proc, ownWrites: (report.requests['POST'] ?? 0) + (report.requests['PUT'] ?? 0), detail: report };
  });
  await verify(ctx.api, secretName, namespaces, ctx.password);
}

function credentialYaml(name: string): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata:
  name: ${name}
spec:
  provider:
    static:
      secretRef: {name: ${SOURCE_NAME}}
  target:
    secretName: ${name}
    namespaces:
      selector:
        matchLabels: {${NS_LABEL.key}: ${NS_LABEL.value}}
    serviceAccounts: []
`;
}

interface SyncCounts {
  synced: number;
  total: number;
  created: number;
  updated: number;
  unchanged: number;
}

async function regcred(ctx: Ctx, phase: Phase, runNo: number, name: string, unbundled = false): Promise<Measurement> {
  const file = join(ctx.work, `${name}.yaml`);
  writeFileSync(file, credentialYaml(name));
  const contender: Contender = unbundled ? 'regcred, unbundled' : 'regcred';
  const cli = unbundled ? UNBUNDLED_CLI : CLI;
  const m = await measure(ctx.metricsApi, contender, phase, runNo, N, async () => {
    const p = must(
      await run(process.execPath, [cli, 'sync', '-f', file, '--kubeconfig', ctx.cp.kubeconfigPath, '--concurrency', String(CONCURRENCY)]),
      'regcred sync',
    );
    const match = /synced (\d+)\/(\d+) namespaces \(created (\d+), updated (\d+), unchanged (\d+)/.exec(p.stdout);
    if (!match) throw new Error(`unexpected regcred output:\n${p.stdout}\n${p.stderr}`);
    const [synced, total, created, updated, unchanged] = match.slice(1).map(Number) as [number, number, number, number, number];
    const counts: SyncCounts = { synced, total, created, updated, unchanged };
    if (synced !== N || total !== N) throw new Error(`regcred synced ${synced}/${total}, expected ${N}`);
    // regcred writes a Secret exactly when it reports it created or updated (serviceAccounts: []).
    return { proc: p, ownWrites: created + updated, detail: counts };
  });
  await verify(ctx.api, name, namespaces, ctx.password);
  return m;
}

// ---- set-up --------------------------------------------------------------------------------------

async function setUp(api: Api, password: string): Promise<void> {
  await callJson(api, 'POST', '/api/v1/namespaces', { metadata: { name: SOURCE_NS } });
  await callJson(api, 'POST', `/api/v1/namespaces/${SOURCE_NS}/secrets`, {
    metadata: { name: SOURCE_NAME },
    stringData: { registry: REGISTRY, username: USERNAME, password },
  });
  await pool(namespaces, 16, (name) => callJson(api, 'POST', '/api/v1/namespaces', { metadata: { name, labels: { [NS_LABEL.key]: NS_LABEL.value } } }));
  // kube-controller-manager gives every new namespace a `default` ServiceAccount and a
  // kube-root-ca.crt ConfigMap; wait until it has, so no contender competes with that burst.
  const deadline = Date.now() + 300_000;
  for (;;) {
    const sas = await callJson<{ items: SecretLike[] }>(api, 'GET', `/api/v1/serviceaccounts?fieldSelector=${q('metadata.name=default')}`);
    const cms = await callJson<{ items: SecretLike[] }>(api, 'GET', `/api/v1/configmaps?fieldSelector=${q('metadata.name=kube-root-ca.crt')}`);
    const n = (items: SecretLike[]) => items.filter((i) => i.metadata.namespace.startsWith('bench-')).length;
    if (n(sas.json.items) >= N && n(cms.json.items) >= N) break;
    if (Date.now() > deadline) throw new Error(`kube-controller-manager did not populate the ${N} namespaces in time`);
    await sleep(1000);
  }
  await sleep(2000);
}

async function setPassword(api: Api, password: string): Promise<void> {
  const path = `/api/v1/namespaces/${SOURCE_NS}/secrets/${SOURCE_NAME}`;
  const { json } = await callJson<SecretLike>(api, 'GET', path);
  json.data = { ...json.data, password: Buffer.from(password).toString('base64') };
  await callJson(api, 'PUT', path, json);
}

async function startupBaselines(cp: ControlPlane): Promise<{ nodeEmptyS: number; regcredVersionS: number; unbundledVersionS?: number; kubectlGetS?: number }> {
  const times = async (cmd: string, args: string[]) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) xs.push(must(await run(cmd, args), cmd).seconds);
    return median(xs);
  };
  return {
    nodeEmptyS: await times(process.execPath, ['-e', '0']),
    regcredVersionS: await times(process.execPath, [CLI, 'version']),
    ...(UNBUNDLED ? { unbundledVersionS: await times(process.execPath, [UNBUNDLED_CLI, 'version']) } : {}),
    // Also warms kubectl's discovery cache for this server, as on any workstation.
    ...(K > 0 ? { kubectlGetS: await times(KUBECTL, ['--kubeconfig', cp.kubeconfigPath, '-n', SOURCE_NS, 'get', 'secret', SOURCE_NAME, '-o', 'name']) } : {}),
  };
}

// ---- report --------------------------------------------------------------------------------------

interface Row {
  contender: Contender;
  phase: Phase;
  runs: number;
  /** Median wall time, scaled to N namespaces when sampled. */
  seconds: number;
  /** Medians, scaled likewise. */
  clientCpuSeconds?: number;
  serverCpuSeconds?: number;
  /** Median CPU used by other work on the machine meanwhile, scaled likewise. */
  otherCpuSeconds?: number;
  secretWrites: number;
  secretWrites2xx: number;
  ownWrites: number;
  secretReads: number;
  extrapolatedFrom?: number;
  spreadSeconds?: [number, number];
  maxLoadBefore: number;
}

function rows(): Row[] {
  const out: Row[] = [];
  const contenders: Contender[] = ['kubectl loop', 'raw client', 'regcred', 'regcred, unbundled'];
  for (const phase of ['first sync', 'changed sync', 'unchanged sync'] as const) {
    for (const contender of contenders) {
      const ms = measurements.filter((m) => m.contender === contender && m.phase === phase);
      if (!ms.length) continue;
      const secs = ms.map((m) => m.seconds);
      const med = median(secs);
      const pick = ms.reduce((a, b) => (Math.abs(b.seconds - med) < Math.abs(a.seconds - med) ? b : a));
      const scale = N / pick.namespaces;
      const medianOf = (f: (m: Measurement) => number | undefined) => {
        const xs = ms.map(f).filter((x): x is number => x !== undefined);
        return xs.length ? median(xs) * scale : undefined;
      };
      const row: Row = {
        contender,
        phase,
        runs: ms.length,
        seconds: med * scale,
        secretWrites: Math.round(pick.metric.secretWrites * scale),
        secretWrites2xx: Math.round(pick.metric.secretWrites2xx * scale),
        ownWrites: Math.round(pick.ownWrites * scale),
        secretReads: Math.round(pick.metric.secretReads * scale),
        maxLoadBefore: Math.max(...ms.map((m) => m.loadBefore)),
      };
      const clientCpu = medianOf((m) => m.clientCpuSeconds);
      const serverCpu = medianOf((m) => m.serverCpuSeconds);
      if (clientCpu !== undefined) row.clientCpuSeconds = clientCpu;
      if (serverCpu !== undefined) row.serverCpuSeconds = serverCpu;
      const otherCpu = medianOf((m) => m.otherCpuSeconds);
      if (otherCpu !== undefined) row.otherCpuSeconds = otherCpu;
      if (scale !== 1) row.extrapolatedFrom = pick.namespaces;
      if (ms.length > 1) row.spreadSeconds = [Math.min(...secs), Math.max(...secs)];
      out.push(row);
    }
  }
  return out;
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w, i) => (i < 2 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

/** The commit measured, and whether src/ had uncommitted changes when it was built. */
function gitState(): { commit: string; srcDirty: string[] } | undefined {
  // A copy without .git (e.g. `git archive` of a commit) can name what it is.
  if (process.env['BENCH_SOURCE_COMMIT']) return { commit: process.env['BENCH_SOURCE_COMMIT'], srcDirty: [] };
  const git = (args: string[]) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (head.status !== 0) return undefined;
  const dirty = git(['status', '--porcelain', '--', 'src']).stdout.split('\n').filter(Boolean);
  return { commit: head.stdout.trim(), srcDirty: dirty.map((l) => l.trim()) };
}

// ---- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  log(
    `fan-out benchmark: N=${N} namespaces, kubectl loop over ${K}${K && K < N ? ' (extrapolated to N)' : ''}, ` +
      `${RUNS} run(s) of raw client and regcred${UNBUNDLED ? ' (bundle and unbundled)' : ''}, concurrency ${CONCURRENCY}`,
  );
  must(await run(process.execPath, [CLI, 'version']), 'regcred version (is it built?)');
  if (K > 0) must(await run(KUBECTL, ['version', '--client']), `${KUBECTL} version --client`);

  log('starting the control plane');
  const cp = await start();
  const stop = async () => {
    currentChild?.kill('SIGKILL');
    await cp.stop();
  };
  // On SIGINT/SIGTERM the harness kills the control plane and exits (keeping its folder); this
  // cleans up the rest.
  const work = mkdtempSync(join(tmpdir(), 'regcred-bench-'));
  process.once('exit', () => {
    currentChild?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    if (currentTimeFile) rmSync(currentTimeFile, { force: true });
    if (!process.env['REGCRED_KEEP_CONTROLPLANE']) rmSync(cp.dir, { recursive: true, force: true });
  });

  try {
    const api = connect(cp.server, cp.dir, 16);
    const metricsApi = connect(cp.server, cp.dir, 1);
    const version = (await callJson<{ gitVersion: string }>(api, 'GET', '/version')).json.gitVersion;
    log(`control plane ${version} at ${cp.server}; creating ${N} namespaces and ${SOURCE_NS}/${SOURCE_NAME}`);
    const ctx: Ctx = { cp, api, metricsApi, work, password: randomBytes(16).toString('hex') };
    await setUp(api, ctx.password);
    const baselines = await startupBaselines(cp);
    log(
      `start-up: node -e 0 ${baselines.nodeEmptyS.toFixed(3)} s, regcred version ${baselines.regcredVersionS.toFixed(3)} s` +
        (baselines.unbundledVersionS !== undefined ? `, unbundled ${baselines.unbundledVersionS.toFixed(3)} s` : '') +
        (baselines.kubectlGetS !== undefined ? `, one kubectl get ${baselines.kubectlGetS.toFixed(3)} s` : ''),
    );

    const sample = namespaces.slice(0, K);
    serverPids = findServerPids(cp.dir);
    for (let r = 1; r <= RUNS; r++) {
      // The fast contenders, in an order that rotates by run, so none always gets the warmest server.
      const fast: ((phase: Phase) => Promise<unknown>)[] = [
        (phase) => rawClient(ctx, phase, r, `bench-raw-${r}`),
        (phase) => regcred(ctx, phase, r, `bench-regcred-${r}`),
        ...(UNBUNDLED ? [(phase: Phase) => regcred(ctx, phase, r, `bench-unbundled-${r}`, true)] : []),
      ];
      const rotated = [...fast.slice((r - 1) % fast.length), ...fast.slice(0, (r - 1) % fast.length)];
      if (r === 1 && K > 0) {
        log(`kubectl loop, first sync: ${2 * K} kubectl processes`);
        await kubectlLoop(ctx, 'first sync', 'bench-kubectl', sample);
      }
      for (const f of rotated) await f('first sync');

      ctx.password = randomBytes(16).toString('hex');
      await setPassword(api, ctx.password);
      if (r === 1 && K > 0) {
        log(`kubectl loop, changed sync: ${2 * K} kubectl processes`);
        await kubectlLoop(ctx, 'changed sync', 'bench-kubectl', sample);
      }
      for (const f of rotated) await f('changed sync');
      await regcred(ctx, 'unchanged sync', r, `bench-regcred-${r}`);
      if (UNBUNDLED) await regcred(ctx, 'unchanged sync', r, `bench-unbundled-${r}`, true);
    }

    // ---- the table
    const rs = rows();
    const find = (c: Contender, p: Phase) => rs.find((x) => x.contender === c && x.phase === p);
    const fmt = (x: number | undefined, d = 2) => (x === undefined ? '' : x.toFixed(d));
    console.log('');
    console.log(
      table(
        ['contender', 'phase', 'wall time (s)', 'client CPU (s)', 'server CPU (s)', 'other CPU (s)', 'API writes (metric)', 'of which 2xx', 'own count', 'secret reads', 'note'],
        rs.map((x) => [
          x.contender,
          x.phase,
          fmt(x.seconds),
          fmt(x.clientCpuSeconds),
          fmt(x.serverCpuSeconds),
          fmt(x.otherCpuSeconds),
          String(x.secretWrites),
          String(x.secretWrites2xx),
          String(x.ownWrites),
          String(x.secretReads),
          [
            x.extrapolatedFrom ? `extrapolated from ${x.extrapolatedFrom} namespaces` : '',
            x.spreadSeconds ? `median of ${x.runs}, range ${fmt(x.spreadSeconds[0])}-${fmt(x.spreadSeconds[1])} s` : '',
          ]
            .filter(Boolean)
            .join('; '),
        ]),
      ),
    );

    const ratios: Record<string, { speedupVsKubectl?: number; slowdownVsRaw?: number; unbundledSpeedupVsKubectl?: number; unbundledSlowdownVsRaw?: number }> = {};
    const goals: { goal: string; phase: Phase; value: number; met: boolean }[] = [];
    console.log('');
    for (const phase of ['first sync', 'changed sync'] as const) {
      const reg = find('regcred', phase);
      const kub = find('kubectl loop', phase);
      const raw = find('raw client', phase);
      const unb = find('regcred, unbundled', phase);
      if (!reg) continue;
      const r: (typeof ratios)[string] = (ratios[phase] = {});
      if (kub) {
        r.speedupVsKubectl = kub.seconds / reg.seconds;
        const u = find('regcred, unbundled', phase);
        if (u) r.unbundledSpeedupVsKubectl = kub.seconds / u.seconds;
        goals.push({ goal: 'regcred >= 20x faster than kubectl loop', phase, value: r.speedupVsKubectl, met: r.speedupVsKubectl >= 20 });
      }
      if (raw) {
        r.slowdownVsRaw = reg.seconds / raw.seconds;
        goals.push({ goal: 'regcred within 1.5x of raw client', phase, value: r.slowdownVsRaw, met: r.slowdownVsRaw <= 1.5 });
        if (unb) r.unbundledSlowdownVsRaw = unb.seconds / raw.seconds;
      }
    }
    for (const g of goals) {
      console.log(`${g.met ? 'MET    ' : 'NOT MET'}  ${g.goal}, ${g.phase}: ${g.value.toFixed(2)}x${K > 0 && K < N && g.goal.includes('kubectl') ? ' (kubectl extrapolated)' : ''}`);
    }
    const unchanged = find('regcred', 'unchanged sync');
    if (unchanged) console.log(`${unchanged.secretWrites === 0 ? 'MET    ' : 'NOT MET'}  regcred unchanged sync writes nothing: ${unchanged.secretWrites} secret writes`);
    for (const phase of ['first sync', 'changed sync'] as const) {
      const x = ratios[phase];
      if (x?.unbundledSlowdownVsRaw !== undefined) {
        console.log(
          `(not a goal) regcred, unbundled, ${phase}: ${x.unbundledSpeedupVsKubectl?.toFixed(2) ?? '-'}x faster than kubectl loop, ${x.unbundledSlowdownVsRaw.toFixed(2)}x the raw client`,
        );
      }
    }
    const contended = measurements.filter((m) => m.otherCpuSeconds !== undefined && m.otherCpuSeconds > 0.25 * m.seconds);
    if (contended.length) {
      console.log(
        `warning: other work on this machine used more than a quarter of a core during ${contended.length} of ${measurements.length} measurements` +
          ` (see "other CPU"): their wall times are inflated`,
      );
    }

    const rawDetail = measurements.filter((m) => m.contender === 'raw client').map((m) => m.detail as RawReport);
    const date = new Date().toISOString().slice(0, 10);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const out = join(RESULTS_DIR, `fanout-${date}${N === 1000 ? '' : `-n${N}`}.json`);
    const result = {
      benchmark: 'fanout',
      date: new Date().toISOString(),
      settings: { namespaces: N, kubectlSample: K, runs: RUNS, concurrency: CONCURRENCY, regcredCli: relative(ROOT, CLI), unbundledRow: UNBUNDLED },
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
      kubernetes: version,
      kubectl: K > 0 ? (spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '') : undefined,
      source: gitState(),
      startupSeconds: baselines,
      rawClientMs: {
        readyMedian: median(rawDetail.map((d) => d.readyMs)),
        preparedMedian: median(rawDetail.map((d) => d.preparedMs)),
        doneMedian: median(rawDetail.map((d) => d.doneMs)),
      },
      rows: rs.map((x) => ({
        ...x,
        seconds: round(x.seconds),
        clientCpuSeconds: round(x.clientCpuSeconds),
        serverCpuSeconds: round(x.serverCpuSeconds),
        otherCpuSeconds: round(x.otherCpuSeconds),
        maxLoadBefore: round(x.maxLoadBefore),
      })),
      ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([a, b]) => [a, round(b)]))])),
      goals: goals.map((g) => ({ ...g, value: round(g.value) })),
      measurements: measurements.map((m) => ({
        contender: m.contender,
        phase: m.phase,
        run: m.run,
        namespaces: m.namespaces,
        seconds: round(m.seconds),
        clientCpuSeconds: round(m.clientCpuSeconds),
        serverCpuSeconds: round(m.serverCpuSeconds),
        otherCpuSeconds: round(m.otherCpuSeconds),
        loadBefore: round(m.loadBefore),
        secretsByVerb: m.metric.secretsByVerb,
        allRequests: m.metric.allRequests,
        ownWrites: m.ownWrites,
      })),
    };
    // Small and diffable: the summary indented, one line per measurement.
    const { measurements: each, ...summary } = result;
    const head = JSON.stringify(summary, null, 1).replace(/\n}$/, '');
    writeFileSync(out, `${head},\n "measurements": [\n${each.map((m) => `  ${JSON.stringify(m)}`).join(',\n')}\n ]\n}\n`);
    console.log(`\nresults: ${out}`);
  } finally {
    log('stopping the control plane');
    await stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});

