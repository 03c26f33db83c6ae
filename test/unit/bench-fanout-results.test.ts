// The fan-out benchmark's results (bench/fanout/results.ts) over canned measurements: medians and
// extrapolation, the table, goals and verdicts, and a results file that bench/report.ts can read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Measurement } from '../../bench/fanout/measure.js';
import { compare, median, resultFile, resultFileName, rows, rowsTable, verdictLines, type RunInfo } from '../../bench/fanout/results.js';
import { render, type ControllerResult, type FanoutResult } from '../../bench/report.js';

function m(contender: Measurement['contender'], phase: Measurement['phase'], run: number, seconds: number, over: Partial<Measurement> = {}): Measurement {
  const writes = over.namespaces ?? 100;
  return {
    contender,
    phase,
    run,
    namespaces: 100,
    seconds,
    clientCpuSeconds: seconds / 2,
    serverCpuSeconds: seconds / 4,
    otherCpuSeconds: 0,
    loadBefore: run,
    metric: { secretWrites: writes, secretWrites2xx: writes, secretReads: 1, allRequests: writes + 5, secretsByVerb: { 'POST 201': writes } },
    ownWrites: writes,
    ...over,
  };
}

const canned: Measurement[] = [
  m('kubectl loop', 'first sync', 1, 40, { namespaces: 20 }),
  m('raw client', 'first sync', 1, 1.0, { detail: { namespaces: 100, created: 100, updated: 0, requests: { POST: 100 }, readyMs: 50, preparedMs: 80, doneMs: 900 } }),
  m('raw client', 'first sync', 2, 1.4, { detail: { namespaces: 100, created: 100, updated: 0, requests: { POST: 100 }, readyMs: 60, preparedMs: 90, doneMs: 1300 } }),
  m('raw client', 'first sync', 3, 1.2, { detail: { namespaces: 100, created: 100, updated: 0, requests: { POST: 100 }, readyMs: 70, preparedMs: 100, doneMs: 1100 } }),
  m('regcred', 'first sync', 1, 1.5),
  m('regcred', 'first sync', 2, 2.0, { otherCpuSeconds: 1.0 }),
  m('regcred', 'first sync', 3, 1.7),
  m('regcred', 'unchanged sync', 1, 0.5, { metric: { secretWrites: 0, secretWrites2xx: 0, secretReads: 1, allRequests: 3, secretsByVerb: {} }, ownWrites: 0 }),
];

test('rows: medians per contender and phase, a sampled kubectl loop scaled to N and marked', () => {
  const rs = rows(canned, 100);
  assert.deepEqual(rs.map((r) => `${r.contender}/${r.phase}`), ['kubectl loop/first sync', 'raw client/first sync', 'regcred/first sync', 'regcred/unchanged sync']);
  const kub = rs[0]!;
  assert.equal(kub.seconds, 200, '40 s over 20 namespaces is 200 s over 100');
  assert.equal(kub.extrapolatedFrom, 20);
  assert.equal(kub.secretWrites, 100);
  const raw = rs[1]!;
  assert.equal(raw.seconds, 1.2);
  assert.deepEqual(raw.spreadSeconds, [1.0, 1.4]);
  assert.equal(raw.runs, 3);
  assert.equal(raw.maxLoadBefore, 3);
  assert.equal(raw.extrapolatedFrom, undefined);
  assert.equal(median([3, 1, 2, 4]), 2.5);
});

test('the table lines up, one row per contender and phase, with notes', () => {
  const lines = rowsTable(rows(canned, 100)).split('\n');
  assert.equal(lines.length, 2 + 4);
  assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'every line as wide as the header');
  assert.match(lines[2]!, /^\| kubectl loop +\| first sync +\| +200\.00 \|.*extrapolated from 20 namespaces \|$/);
  assert.match(lines[3]!, /median of 3, range 1\.00-1\.40 s/);
});

test('ratios and goals: kubectl and floor ratios the right way round; unchanged writes; contention warned', () => {
  const rs = rows(canned, 100);
  const cmp = compare(rs);
  assert.deepEqual(Object.keys(cmp.ratios), ['first sync']);
  assert.equal(cmp.ratios['first sync']?.speedupVsKubectl, 200 / 1.7);
  assert.equal(cmp.ratios['first sync']?.slowdownVsRaw, 1.7 / 1.2);
  assert.deepEqual(cmp.goals.map((g) => [g.goal, g.met]), [
    ['regcred >= 20x faster than kubectl loop', true],
    ['regcred within 1.5x of raw client', true],
  ]);
  assert.deepEqual(verdictLines(rs, cmp, canned, { k: 20, n: 100 }), [
    'MET      regcred >= 20x faster than kubectl loop, first sync: 117.65x (kubectl extrapolated)',
    'MET      regcred within 1.5x of raw client, first sync: 1.42x',
    'MET      regcred unchanged sync writes nothing: 0 secret writes',
    'warning: other work on this machine used more than a quarter of a core during 1 of 8 measurements (see "other CPU"): their wall times are inflated',
  ]);
});

test('the results file: one line per measurement, rounded, and readable by bench/report.ts', () => {
  const rs = rows(canned, 100);
  const info: RunInfo = {
    date: '2026-12-06T10:00:00.000Z',
    settings: { namespaces: 100, kubectlSample: 20, runs: 3, concurrency: 16, regcredCli: 'dist/regcred.mjs', unbundledRow: false },
    machine: { cpus: 2, cpuModel: 'Test CPU', memGiB: 24, kernel: '6.1', node: 'v20.0.0' },
    kubernetes: 'v1.34.4',
    kubectl: 'Client Version: v1.34.4',
    source: { commit: 'abc1234', srcDirty: [] },
    startupSeconds: { nodeEmptyS: 0.04, regcredVersionS: 0.3 },
  };
  const text = resultFile(info, canned, rs, compare(rs));
  assert.equal(resultFileName('2026-12-06', 100), 'fanout-2026-12-06-n100.json');
  assert.equal(resultFileName('2026-12-06', 1000), 'fanout-2026-12-06.json');
  const measurementLines = text.split('\n').filter((l) => l.startsWith('  {"contender"'));
  assert.equal(measurementLines.length, canned.length);
  const parsed = JSON.parse(text) as FanoutResult & { rawClientMs: { doneMedian: number }; ratios: Record<string, Record<string, number>> };
  assert.equal(parsed.rawClientMs.doneMedian, 1100);
  assert.equal(parsed.ratios['first sync']?.['slowdownVsRaw'], 1.417);
  const ctl: ControllerResult = {
    date: '2026-12-06T11:00:00.000Z',
    latency: { namespaces: 10, observed: 10, p50Ms: 40, p99Ms: 80 },
    idle: { namespaces: 10, seconds: 60, writes: 0, requests: 2, requestsPerMinute: 2 },
    memory: { namespaces: 10, credentials: 1, secrets: 10, synced: true, syncSeconds: 1, rssMB: 100, peakRssMB: 110 },
  };
  const summary = render(parsed, ctl, { fanout: 'f.json', controller: 'c.json' });
  assert.match(summary, /\| fan-out, first sync \(100 namespaces\) \| 1\.70 s \| 200\.0 s \(from 20\) \| 1\.20 s \|/);
});
