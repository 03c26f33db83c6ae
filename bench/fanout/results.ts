// The fan-out benchmark's results, from its measurements: one row per contender and phase (medians,
// scaled to N when the kubectl loop was sampled), the Markdown table, the ratios and goals, and the
// JSON written to bench/results/ (which bench/report.ts turns into docs/benchmarks.md's summary).
// Pure functions of the measurements, but for gitState.

import { spawnSync } from 'node:child_process';
import type { RawReport } from '../raw-client.js';
import type { Contender, Measurement, Phase } from './measure.js';

export const round = (x: number | undefined, d = 3) => (x === undefined ? undefined : Number(x.toFixed(d)));
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface Row {
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

/** One row per contender and phase measured; counts from the run nearest the median, scaled to `n` namespaces. */
export function rows(measurements: readonly Measurement[], n: number): Row[] {
  const out: Row[] = [];
  const contenders: Contender[] = ['kubectl loop', 'raw client', 'regcred', 'regcred, unbundled'];
  for (const phase of ['first sync', 'changed sync', 'unchanged sync'] as const) {
    for (const contender of contenders) {
      const ms = measurements.filter((m) => m.contender === contender && m.phase === phase);
      if (!ms.length) continue;
      const secs = ms.map((m) => m.seconds);
      const med = median(secs);
      const pick = ms.reduce((a, b) => (Math.abs(b.seconds - med) < Math.abs(a.seconds - med) ? b : a));
      const scale = n / pick.namespaces;
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

export function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w, i) => (i < 2 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

const fmt = (x: number | undefined, d = 2) => (x === undefined ? '' : x.toFixed(d));

/** The rows as the Markdown table the benchmark prints. */
export function rowsTable(rs: readonly Row[]): string {
  return table(
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
  );
}

export type Ratios = Record<string, { speedupVsKubectl?: number; slowdownVsRaw?: number; unbundledSpeedupVsKubectl?: number; unbundledSlowdownVsRaw?: number }>;
export interface Goal {
  goal: string;
  phase: Phase;
  value: number;
  met: boolean;
}

/** regcred against the kubectl loop and the raw client, per phase, and the goals those ratios meet or not. */
export function compare(rs: readonly Row[]): { ratios: Ratios; goals: Goal[] } {
  const find = (c: Contender, p: Phase) => rs.find((x) => x.contender === c && x.phase === p);
  const ratios: Ratios = {};
  const goals: Goal[] = [];
  for (const phase of ['first sync', 'changed sync'] as const) {
    const reg = find('regcred', phase);
    const kub = find('kubectl loop', phase);
    const raw = find('raw client', phase);
    const unb = find('regcred, unbundled', phase);
    if (!reg) continue;
    const r: Ratios[string] = (ratios[phase] = {});
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
  return { ratios, goals };
}

/** The verdict lines printed after the table: each goal, writes of an unchanged sync, the unbundled row, contention. */
export function verdictLines(rs: readonly Row[], cmp: { ratios: Ratios; goals: Goal[] }, measurements: readonly Measurement[], sample: { k: number; n: number }): string[] {
  const out: string[] = [];
  const { k, n } = sample;
  for (const g of cmp.goals) {
    out.push(`${g.met ? 'MET    ' : 'NOT MET'}  ${g.goal}, ${g.phase}: ${g.value.toFixed(2)}x${k > 0 && k < n && g.goal.includes('kubectl') ? ' (kubectl extrapolated)' : ''}`);
  }
  const unchanged = rs.find((x) => x.contender === 'regcred' && x.phase === 'unchanged sync');
  if (unchanged) out.push(`${unchanged.secretWrites === 0 ? 'MET    ' : 'NOT MET'}  regcred unchanged sync writes nothing: ${unchanged.secretWrites} secret writes`);
  for (const phase of ['first sync', 'changed sync'] as const) {
    const x = cmp.ratios[phase];
    if (x?.unbundledSlowdownVsRaw !== undefined) {
      out.push(
        `(not a goal) regcred, unbundled, ${phase}: ${x.unbundledSpeedupVsKubectl?.toFixed(2) ?? '-'}x faster than kubectl loop, ${x.unbundledSlowdownVsRaw.toFixed(2)}x the raw client`,
      );
    }
  }
  const contended = measurements.filter((m) => m.otherCpuSeconds !== undefined && m.otherCpuSeconds > 0.25 * m.seconds);
  if (contended.length) {
    out.push(
      `warning: other work on this machine used more than a quarter of a core during ${contended.length} of ${measurements.length} measurements` +
        ` (see "other CPU"): their wall times are inflated`,
    );
  }
  return out;
}

/** The commit measured, and whether src/ had uncommitted changes when it was built. */
export function gitState(root: string): { commit: string; srcDirty: string[] } | undefined {
  // A copy without .git (e.g. `git archive` of a commit) can name what it is.
  if (process.env['BENCH_SOURCE_COMMIT']) return { commit: process.env['BENCH_SOURCE_COMMIT'], srcDirty: [] };
  const git = (args: string[]) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' });
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (head.status !== 0) return undefined;
  const dirty = git(['status', '--porcelain', '--', 'src']).stdout.split('\n').filter(Boolean);
  return { commit: head.stdout.trim(), srcDirty: dirty.map((l) => l.trim()) };
}

/** What the run knew besides its measurements, for the results file. */
export interface RunInfo {
  date: string;
  settings: { namespaces: number; kubectlSample: number; runs: number; concurrency: number; regcredCli: string; unbundledRow: boolean };
  machine: { cpus: number; cpuModel: string | undefined; memGiB: number; kernel: string; node: string };
  kubernetes: string;
  kubectl: string | undefined;
  source: { commit: string; srcDirty: string[] } | undefined;
  startupSeconds: { nodeEmptyS: number; regcredVersionS: number; unbundledVersionS?: number; kubectlGetS?: number };
}

/** The results file's name: `fanout-<date>.json`, with `-n<N>` when N is not 1,000. */
export function resultFileName(date: string, n: number): string {
  return `fanout-${date}${n === 1000 ? '' : `-n${n}`}.json`;
}

/** The results file: the summary indented, then one line per measurement (small and diffable). */
export function resultFile(info: RunInfo, measurements: readonly Measurement[], rs: readonly Row[], cmp: { ratios: Ratios; goals: Goal[] }): string {
  const rawDetail = measurements.filter((m) => m.contender === 'raw client').map((m) => m.detail as RawReport);
  const result = {
    benchmark: 'fanout',
    date: info.date,
    settings: info.settings,
    machine: info.machine,
    kubernetes: info.kubernetes,
    kubectl: info.kubectl,
    source: info.source,
    startupSeconds: info.startupSeconds,
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
    ratios: Object.fromEntries(Object.entries(cmp.ratios).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([a, b]) => [a, round(b)]))])),
    goals: cmp.goals.map((g) => ({ ...g, value: round(g.value) })),
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
  const { measurements: each, ...summary } = result;
  const head = JSON.stringify(summary, null, 1).replace(/\n}$/, '');
  return `${head},\n "measurements": [\n${each.map((m) => `  ${JSON.stringify(m)}`).join(',\n')}\n ]\n}\n`;
}
