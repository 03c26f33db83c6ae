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

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { start } from '../test/harness/controlplane.js';
import { kubectlLoop, rawClient, regcred, setPassword, setUp, startupBaselines, type Ctx } from './fanout/scenario.js';
import { measurements, watchServer, type Phase } from './fanout/measure.js';
import { killCurrent, must, removeCurrentTimeFile, run } from './fanout/process.js';
import { compare, gitState, resultFile, resultFileName, rows, rowsTable, verdictLines } from './fanout/results.js';
import { CLI, CONCURRENCY, K, KUBECTL, N, RESULTS_DIR, ROOT, RUNS, SOURCE_NAME, SOURCE_NS, UNBUNDLED, log, namespaces } from './fanout/settings.js';
import { callJson, connect } from './kubeapi.js';

// The parts: fanout/settings.ts (the environment), fanout/scenario.ts (set-up and the contenders),
// fanout/measure.ts and fanout/process.ts (timing, request counts, CPU), fanout/results.ts (rows,
// table, goals, the JSON file).

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
    killCurrent();
    await cp.stop();
  };
  // On SIGINT/SIGTERM the harness kills the control plane and exits (keeping its folder); this
  // cleans up the rest.
  const work = mkdtempSync(join(tmpdir(), 'regcred-bench-'));
  process.once('exit', () => {
    killCurrent();
    rmSync(work, { recursive: true, force: true });
    removeCurrentTimeFile();
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
    watchServer(cp.dir);
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
    const rs = rows(measurements, N);
    console.log('');
    console.log(rowsTable(rs));
    const cmp = compare(rs);
    console.log('');
    for (const line of verdictLines(rs, cmp, measurements, { k: K, n: N })) console.log(line);

    mkdirSync(RESULTS_DIR, { recursive: true });
    const out = join(RESULTS_DIR, resultFileName(new Date().toISOString().slice(0, 10), N));
    const info = {
      date: new Date().toISOString(),
      settings: { namespaces: N, kubectlSample: K, runs: RUNS, concurrency: CONCURRENCY, regcredCli: relative(ROOT, CLI), unbundledRow: UNBUNDLED },
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
      kubernetes: version,
      kubectl: K > 0 ? (spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '') : undefined,
      source: gitState(ROOT),
      startupSeconds: baselines,
    };
    writeFileSync(out, resultFile(info, measurements, rs, cmp));
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
