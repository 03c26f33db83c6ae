// Contender (b), "raw client": the floor for writing one pull Secret into many namespaces. Run as its
// own process (like the regcred CLI), so both pay Node's start-up:
//
//   node dist/bench/raw-client.js '<json options>'
//
// It does the same job as `regcred sync` with plain node:https and one keep-alive Agent: read the
// source Secret, list the selected namespaces, then
//   create: POST the Secret into each namespace;
//   update: one cluster-wide LIST of its Secrets by label, then PUT each (with the listed resourceVersion).
// Prints one JSON line: what it sent and when (milliseconds since the process started).

import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { callJson, connect, dockerConfigJson, pool, q, type SecretLike } from './kubeapi.js';

export interface RawOptions {
  server: string;
  dir: string;
  mode: 'create' | 'update';
  secretName: string;
  namespaceSelector: string;
  sourceNamespace: string;
  sourceName: string;
  concurrency: number;
}

export interface RawReport {
  namespaces: number;
  created: number;
  updated: number;
  requests: Record<string, number>;
  /** Milliseconds since process start: modules loaded; source read and namespaces listed; all written. */
  readyMs: number;
  preparedMs: number;
  doneMs: number;
}

const LABEL_OWNER = 'regcred-bench/raw-owner';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as RawOptions;
  const readyMs = performance.now();
  const api = connect(opts.server, opts.dir, opts.concurrency);

  const [source, nsList] = await Promise.all([
    callJson<SecretLike>(api, 'GET', `/api/v1/namespaces/${q(opts.sourceNamespace)}/secrets/${q(opts.sourceName)}`),
    callJson<{ items: { metadata: { name: string }; status?: { phase?: string } }[] }>(
      api,
      'GET',
      `/api/v1/namespaces?labelSelector=${q(opts.namespaceSelector)}`,
    ),
  ]);
  const field = (k: string) => Buffer.from(source.json.data?.[k] ?? '', 'base64').toString('utf8');
  const config = dockerConfigJson(field('registry'), field('username'), field('password'));
  const data = { '.dockerconfigjson': Buffer.from(config).toString('base64') };
  const labels = { 'app.kubernetes.io/managed-by': 'regcred-bench', [LABEL_OWNER]: opts.secretName };
  const annotations = { 'regcred-bench/content-hash': createHash('sha256').update(config).digest('hex') };
  const namespaces = nsList.json.items.filter((n) => n.status?.phase !== 'Terminating').map((n) => n.metadata.name);

  let existing = new Map<string, SecretLike>();
  if (opts.mode === 'update') {
    const list = await callJson<{ items: SecretLike[] }>(
      api,
      'GET',
      `/api/v1/secrets?labelSelector=${q(`${LABEL_OWNER}=${opts.secretName}`)}&fieldSelector=${q(`metadata.name=${opts.secretName}`)}`,
    );
    existing = new Map(list.json.items.map((s) => [s.metadata.namespace, s]));
  }
  const preparedMs = performance.now();

  let created = 0;
  let updated = 0;
  await pool(namespaces, opts.concurrency, async (namespace) => {
    const current = existing.get(namespace);
    const metadata = { name: opts.secretName, namespace, labels, annotations };
    if (current) {
      const body = { apiVersion: 'v1', kind: 'Secret', metadata: { ...metadata, resourceVersion: current.metadata.resourceVersion }, type: 'kubernetes.io/dockerconfigjson', data };
      await callJson(api, 'PUT', `/api/v1/namespaces/${q(namespace)}/secrets/${q(opts.secretName)}`, body);
      updated++;
    } else {
      const body = { apiVersion: 'v1', kind: 'Secret', metadata, type: 'kubernetes.io/dockerconfigjson', data };
      await callJson(api, 'POST', `/api/v1/namespaces/${q(namespace)}/secrets`, body);
      created++;
    }
  });
  const report: RawReport = { namespaces: namespaces.length, created, updated, requests: api.sent, readyMs, preparedMs, doneMs: performance.now() };
  api.agent.destroy();
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`raw-client: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
