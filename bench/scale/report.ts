// The scale benchmark's table (docs/benchmarks.md): each measure, its goal, regcred's result as a
// ratio to the raw-client floor of the same run where the goal is one, and ESO's beside it.
import type { EsoScaleResult } from './eso.js';
import type { RegcredScaleResult } from './regcred.js';

export interface ScaleRun {
  commit: string;
  date: string;
  node: string;
  namespaces: number;
  regcred: RegcredScaleResult;
  eso?: EsoScaleResult | undefined;
}

const num = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const ratio = (x: number, floor: number) => (floor > 0 && Number.isFinite(x) ? `${(x / floor).toFixed(2)}× the floor` : '–');
const met = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'met' : '**not met**');

export function scaleTable(r: ScaleRun): string {
  const g = r.regcred;
  const e = r.eso;
  const n = r.namespaces.toLocaleString('en-US');
  const rows: string[][] = [];
  const add = (measure: string, goal: string, result: string, ok: boolean | undefined, eso = '') => rows.push([measure, goal, result, met(ok), eso]);
  const fanOut = (s: number, f: number) => `${num(s)} s (${ratio(s, f)}: ${num(f)} s)`;
  const newRuns = g.newCredentialRuns && g.newCredentialRuns.length > 1 ? ` (median of ${g.newCredentialRuns.length} new credentials: ${g.newCredentialRuns.map((x) => num(x)).join(', ')} s, the first on a fresh process)` : '';
  add(`controller: a new credential reaches ${n} namespaces${newRuns}`, '≤ 1.3× the floor', fanOut(g.newCredentialSeconds, g.floor.createSeconds), g.newCredentialSeconds <= 1.3 * g.floor.createSeconds,
    e ? `${e.firstFanOutSeconds === null ? 'not within 900 s' : `${num(e.firstFanOutSeconds)} s (${ratio(e.firstFanOutSeconds, g.floor.createSeconds)})`}` : '');
  add(`controller: rotation reaches ${n} namespaces (median of the source edits; floor: median of 3 runs)`, '≤ 1.3× the floor', fanOut(g.rotationSeconds, g.floor.updateSeconds), g.rotationSeconds <= 1.3 * g.floor.updateSeconds);
  add(`source Secret edited → all ${n} copies updated`, `p99 < 2 s over ${g.sourceEditSeconds.all.length} edits`, `p50 ${num(g.sourceEditSeconds.p50)} s, p99 ${num(g.sourceEditSeconds.p99)} s`, g.sourceEditSeconds.p99 < 2,
    e ? (e.sourceEditSeconds === null ? `never (none within ${e.sourceEditWaitSeconds} s; refreshInterval ${e.refreshInterval})` : `${num(e.sourceEditSeconds)} s`) : '');
  add(`new namespace → Secret`, `p99 < 50 ms over ${g.newNamespaceMs.observed}`, `p50 ${num(g.newNamespaceMs.p50, 0)} ms, p99 ${num(g.newNamespaceMs.p99, 0)} ms${g.newNamespaceFloorMs ? ` (a raw client that only follows namespaces, the floor: p50 ${num(g.newNamespaceFloorMs.p50, 0)} ms, p99 ${num(g.newNamespaceFloorMs.p99, 0)} ms)` : ''}`, g.newNamespaceMs.p99 < 50,
    e ? `p50 ${num(e.newNamespaceSeconds.p50)} s, max ${num(e.newNamespaceSeconds.max)} s (${e.newNamespaceSeconds.observed}/${e.newNamespaceSeconds.of} within ${e.newNamespaceSeconds.waitSeconds} s; refreshTime ${e.newNamespaceSeconds.refreshTime})` : '');
  add('controller RSS idle, default V8', '≤ 70 MB', `${num(g.idleRssMB, 1)} MB`, g.idleRssMB <= 70);
  if (g.rssOneCredentialMB !== undefined) {
    add(`controller RSS, one credential in ${n} namespaces (+ the new ones)`, 'reported', `${num(g.rssOneCredentialMB, 1)} MB`, undefined, e ? `${num(e.rssMB, 1)} MB` : '');
  }
  for (const s of g.scale) {
    const goal = s.namespaces <= 5000 ? '< 100 MB' : '< 200 MB, completes';
    const limit = s.namespaces <= 5000 ? 100 : 200;
    add(`controller RSS, ${s.namespaces.toLocaleString('en-US')} namespaces × 3 credentials`, goal,
      `${num(s.rssMB, 1)} MB a minute after converging${s.rssParts ? ` (${num(s.rssParts.anon, 1)} anonymous, ${num(s.rssParts.file, 1)} file-backed: the node binary's pages)` : ''}${s.peakRssMB !== undefined ? `, peak ${num(s.peakRssMB, 1)} MB` : ''}; converged ${num(s.convergeSeconds, 1)} s after the namespaces began (creating them: ${num(s.createNamespacesSeconds, 1)} s); a plain GET meanwhile p50 ${num(s.getLatencyMs?.p50, 1)} ms, p99 ${num(s.getLatencyMs?.p99, 1)} ms (idle: p99 ${num(g.baselineGetLatencyMs.p99, 1)} ms)`,
      s.rssMB < limit && s.convergeSeconds !== null, s.namespaces === r.namespaces && e ? `${num(e.rssMB, 1)} MB` : '');
  }
  if (g.heapBytesPerManagedSecret !== undefined) add('heap bytes per managed Secret', '< 300 B', `${g.heapBytesPerManagedSecret} B (namespace and service-account entries included)`, g.heapBytesPerManagedSecret < 300);
  if (g.heapBytesPerAddedSecret) add('heap bytes per managed Secret, the Secret alone', 'reported', `${g.heapBytesPerAddedSecret.bytes} B (a fourth credential's ${g.heapBytesPerAddedSecret.secrets.toLocaleString('en-US')} Secrets)`, undefined);
  if (g.soak) add(`${Math.round(g.soak.seconds / 60)}-minute soak, RSS growth after warm-up`, '< 2 MB', `${num(g.soak.growthMB, 1)} MB (${num(g.soak.rssAfterWarmupMB, 1)} → ${num(g.soak.rssEndMB, 1)} MB, peak ${num(g.soak.peakMB, 1)})`, g.soak.growthMB < 2);
  const restart = g.afterApiServerRestart.newNamespaceSecretMs;
  add('watches live after an API server restart', '< 5 s', restart === null ? 'not within 30 s' : `${(restart / 1000).toFixed(2)} s (a namespace created once the server was ready had its Secret)`, restart !== null && restart < 5000);
  const header = ['measure', 'goal', `regcred (${r.commit}, Node ${r.node})`, '', e ? `External Secrets Operator ${e.version}` : ''];
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}
