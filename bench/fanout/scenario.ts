// The fan-out scenario: N labelled namespaces and a source Secret, then each contender writing one
// pull Secret into every namespace (kubectl loop, raw client, regcred sync), measured (measure.ts)
// and checked afterwards, untimed, for the right content everywhere.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../../test/harness/controlplane.js';
import { callJson, pool, q, type Api, type SecretLike } from '../kubeapi.js';
import type { RawOptions, RawReport } from '../raw-client.js';
import { measure, type Measurement, type Phase, type Contender } from './measure.js';
import { must, run } from './process.js';
import { median } from './results.js';
import {
  CLI,
  CONCURRENCY,
  K,
  KUBECTL,
  N,
  NS_LABEL,
  NS_SELECTOR,
  RAW_CLIENT,
  REGISTRY,
  SOURCE_NAME,
  SOURCE_NS,
  UNBUNDLED,
  UNBUNDLED_CLI,
  USERNAME,
  namespaces,
  sleep,
} from './settings.js';

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


export interface Ctx {
  cp: ControlPlane;
  api: Api;
  metricsApi: Api;
  work: string;
  password: string;
}

export async function kubectlLoop(ctx: Ctx, phase: Phase, secretName: string, sample: readonly string[]): Promise<void> {
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

export async function rawClient(ctx: Ctx, phase: Phase, runNo: number, secretName: string): Promise<void> {
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

export async function regcred(ctx: Ctx, phase: Phase, runNo: number, name: string, unbundled = false): Promise<Measurement> {
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

export async function setUp(api: Api, password: string): Promise<void> {
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

export async function setPassword(api: Api, password: string): Promise<void> {
  const path = `/api/v1/namespaces/${SOURCE_NS}/secrets/${SOURCE_NAME}`;
  const { json } = await callJson<SecretLike>(api, 'GET', path);
  json.data = { ...json.data, password: Buffer.from(password).toString('base64') };
  await callJson(api, 'PUT', path, json);
}

export async function startupBaselines(cp: ControlPlane): Promise<{ nodeEmptyS: number; regcredVersionS: number; unbundledVersionS?: number; kubectlGetS?: number }> {
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
