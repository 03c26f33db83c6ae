import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scaleTable, type ScaleRun } from '../../bench/scale/report.js';

const run = (over: Partial<ScaleRun['regcred']> = {}): ScaleRun => ({
  commit: 'abc1234',
  date: '2026-12-07T00:00:00Z',
  node: '26.12.1',
  namespaces: 1000,
  regcred: {
    floor: { createSeconds: 1, updateSeconds: 1 },
    idleRssMB: 60,
    newCredentialSeconds: 1.2,
    rotationSeconds: 1.5,
    sourceEditSeconds: { p50: 1, p99: 1.5, all: [1, 1.5] },
    newNamespaceMs: { p50: 10, p99: 40, max: 45, observed: 200 },
    afterApiServerRestart: { newNamespaceSecretMs: 800 },
    scale: [
      { namespaces: 5000, credentials: 3, secrets: 15000, convergeSeconds: 20, createNamespacesSeconds: 15, rssMB: 90, heapMB: 20 },
      { namespaces: 20000, credentials: 3, secrets: 60000, convergeSeconds: null, createNamespacesSeconds: 60, rssMB: 150, heapMB: 40 },
    ],
    heapBytesPerManagedSecret: 466,
    baselineGetLatencyMs: { p50: 2, p99: 5, max: 6, samples: 50 },
    ...over,
  },
  eso: { version: 'v0.16.2', namespaces: 1000, firstFanOutSeconds: 100, rssMB: 160, newNamespaceSeconds: { p50: 11, max: 12, observed: 5, of: 5, waitSeconds: 120, refreshTime: '1m' }, sourceEditSeconds: null, sourceEditWaitSeconds: 120, refreshInterval: '1h' },
});

test('each goal judged against the floor of the same run; ESO beside it, "never" where it never got there', () => {
  const t = scaleTable(run());
  const line = (start: string) => t.split('\n').find((l) => l.startsWith(`| ${start}`)) ?? '';
  assert.match(line('controller: a new credential'), /1\.20 s \(1\.20× the floor: 1\.00 s\) \| met \| 100\.00 s \(100\.00× the floor\)/);
  assert.match(line('controller: rotation'), /1\.50× the floor.*\*\*not met\*\*/);
  assert.match(line('source Secret edited'), /p99 1\.50 s \| met \| never \(none within 120 s; refreshInterval 1h\)/);
  assert.match(line('controller RSS, 20,000'), /not met/, 'not converged is not met, whatever the memory');
  assert.match(line('heap bytes'), /466 B.*not met/);
  assert.match(line('watches live'), /0\.80 s.*\| met/);
  assert.equal(t.split('\n')[1], '|---|---|---|---|---|');
});

test('a run without ESO or a soak leaves their cells out', () => {
  const r = run();
  delete r.eso;
  const t = scaleTable(r);
  assert.ok(!t.includes('External Secrets Operator'));
  assert.ok(!t.includes('soak'));
});
