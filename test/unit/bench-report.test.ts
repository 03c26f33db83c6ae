// The benchmark report's summary (bench/report.ts): ratios computed the right way round, the machine's
// core count shown, extrapolated kubectl figures marked, missing phases left out rather than invented.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { render, type ControllerResult, type FanoutResult } from '../../bench/report.js';

const fan: FanoutResult = {
  date: '2026-11-23T12:00:00.000Z',
  settings: { namespaces: 1000, runs: 5, concurrency: 16 },
  machine: { cpus: 2, cpuModel: 'Test CPU', memGiB: 24, kernel: '6.1', node: 'v20.0.0' },
  kubernetes: 'v1.34.4',
  source: { commit: 'abc1234', srcDirty: [] },
  rows: [
    { contender: 'kubectl loop', phase: 'first sync', runs: 1, seconds: 200, secretWrites: 2000, secretWrites2xx: 1000, secretReads: 1000, extrapolatedFrom: 200 },
    { contender: 'raw client', phase: 'first sync', runs: 5, seconds: 2, secretWrites: 1000, secretWrites2xx: 1000, secretReads: 1, spreadSeconds: [1.9, 2.2] },
    { contender: 'regcred', phase: 'first sync', runs: 5, seconds: 2.5, secretWrites: 1000, secretWrites2xx: 1000, secretReads: 2 },
    { contender: 'regcred', phase: 'unchanged sync', runs: 5, seconds: 0.7, secretWrites: 0, secretWrites2xx: 0, secretReads: 2 },
  ],
};
const ctl: ControllerResult = {
  date: '2026-11-23T12:30:00.000Z',
  latency: { namespaces: 200, observed: 200, p50Ms: 40, p99Ms: 84 },
  idle: { namespaces: 500, seconds: 300, writes: 0, requests: 10, requestsPerMinute: 2 },
  rotation: {
    namespaces: 1000,
    windowSeconds: 120,
    lifetimeSeconds: 30,
    firstSyncSeconds: 3.2,
    rotations: 6,
    rotationFanOutSeconds: { p50: 2.1, max: 2.9, all: [2.1, 2.9] },
    http: { providerCalls: 6, refreshes: 6, callsPerRefresh: 1, secretWrites: 6000, secretDeletes: 0, writesPerRotation: 1000 },
    ecr: { regions: 2, callsByRegion: { 'us-east-1': 6, 'eu-west-1': 6 }, refreshes: 6, callsPerRefresh: 2, callsPerRefreshPerRegion: 1 },
  },
  memory: { namespaces: 5000, credentials: 3, secrets: 15000, synced: true, syncSeconds: 86, rssMB: 138.5, peakRssMB: 140.6 },
};
const files = { fanout: 'bench/results/f.json', controller: 'bench/results/c.json' };

test('the summary shows cores, commit and both ratios per phase', () => {
  const out = render(fan, ctl, files);
  assert.match(out, /\*\*2 cores\*\* \(Test CPU\)/);
  assert.match(out, /commit `abc1234`/);
  // 200 / 2.5 = 80× faster than kubectl; 2.5 / 2 = 1.25× the floor; kubectl marked as extrapolated.
  assert.match(out, /\| fan-out, first sync \(1,000 namespaces\) \| 2\.50 s \| 200\.0 s \(from 200\) \| 2\.00 s \| \*\*80× faster\*\* \| 1\.25× the time \|/);
  assert.doesNotMatch(out, /fan-out, rotation/, 'no changed-sync rows, no invented line');
  assert.match(out, /API writes when nothing changed \(1,000 namespaces\) \| \*\*0\*\* \| 2,000/);
});

test('the controller rows: provider calls per rotation, per region for ECR, idle writes, memory', () => {
  const out = render(fan, ctl, files);
  assert.match(out, /provider calls per rotation \(1,000 namespaces\) \| \*\*1\.00\*\* \(http: 6 calls, 6 refreshes\); \*\*1\.00 per region\*\* \(ECR, 2 regions: us-east-1 6, eu-west-1 6 calls/);
  assert.match(out, /p50 2\.10 s, max 2\.90 s/);
  assert.match(out, /idle writes \(500 synced namespaces, 5 min\) \| \*\*0\*\*/);
  assert.match(out, /\*\*138\.5 MB\*\* RSS \(peak 140\.6 MB\), synced in 86 s/);
  assert.match(out, /new-namespace latency \(200 namespaces, one by one\) \| p50 40 ms, p99 84 ms/);
});

test('without a rotation phase the controller rows that need it are left out', () => {
  const { rotation: _omit, ...rest } = ctl;
  const out = render(fan, rest, files);
  assert.doesNotMatch(out, /provider calls per rotation/);
  assert.match(out, /controller memory/);
});
