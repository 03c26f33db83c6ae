// One measurement of one contender: wall time, the API server's request counters before and after,
// the control plane's CPU from /proc, and "other CPU" (the rest of the machine's busy time) to show
// when other work competed.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { diff, requestTotals, summarize, type Api, type RequestCounts } from '../kubeapi.js';
import type { Proc } from './process.js';
import { log } from './settings.js';

export type Contender = 'kubectl loop' | 'raw client' | 'regcred' | 'regcred, unbundled';
export type Phase = 'first sync' | 'changed sync' | 'unchanged sync';

export interface Measurement {
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

/** Every measurement of this run, in order. */
export const measurements: Measurement[] = [];

export async function measure(
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

/** From now on, server CPU is that of the control plane whose temp folder is `dir`. */
export function watchServer(dir: string): void {
  serverPids = findServerPids(dir);
}

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
