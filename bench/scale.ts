// `make bench`, part three: the controller at cluster scale and External Secrets Operator beside it
// (bench/scale/regcred.ts, bench/scale/eso.ts), each on its own control plane; one JSON result in
// bench/results/ and the table of docs/benchmarks.md printed.
//   BENCH_SCALE_NAMESPACES (1000), BENCH_SCALE_LARGE ("5000,20000"), BENCH_SCALE_LATENCY (200),
//   BENCH_SCALE_EDITS (5), BENCH_SOAK_SECONDS (900), BENCH_ESO (1; 0 skips it)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from '../test/harness/controlplane.js';
import { installCrds } from '../test/harness/crds.js';
import { runRegcredScale } from './scale/regcred.js';
import { runEsoScale } from './scale/eso.js';
import { scaleTable, type ScaleRun } from './scale/report.js';

const env = (k: string, d: string) => process.env[k] ?? d;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = process.env['BENCH_RESULTS_DIR'] || join(ROOT, 'bench', 'results');

async function main(): Promise<void> {
  const namespaces = Number(env('BENCH_SCALE_NAMESPACES', '1000'));
  const settings = {
    namespaces,
    largeNamespaces: env('BENCH_SCALE_LARGE', '5000,20000').split(',').filter(Boolean).map(Number),
    latencyNamespaces: Number(env('BENCH_SCALE_LATENCY', '200')),
    sourceEdits: Number(env('BENCH_SCALE_EDITS', '5')),
    soakSeconds: Number(env('BENCH_SOAK_SECONDS', '900')),
  };
  const commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  let cp = await start();
  let regcred;
  try {
    await installCrds(cp.kubeConfig);
    regcred = await runRegcredScale(cp, settings);
  } finally {
    await cp.stop();
  }
  let eso;
  if (env('BENCH_ESO', '1') !== '0') {
    cp = await start();
    try {
      eso = await runEsoScale(cp, namespaces, { newNamespaces: 5, editWaitSeconds: 120 });
    } finally {
      await cp.stop();
    }
  }
  const run: ScaleRun = { commit, date: new Date().toISOString(), node: process.versions.node, namespaces, regcred, eso };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `scale-${run.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(run, null, 2) + '\n');
  console.log(`[scale] results in ${file}\n\n${scaleTable(run)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
