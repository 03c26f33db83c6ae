// `make demo`: a local control plane, `regcred sync` of examples/static.yaml, what it wrote, and stop.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { start } from './controlplane.js';
import { CLI_PATH } from './cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/static.yaml', import.meta.url));
const say = (text: string) => console.log(`\n==> ${text}`);

say('Starting a local control plane: etcd, kube-apiserver, kube-controller-manager (first run builds them; cached after)');
const t0 = Date.now();
const cp = await start();
try {
  console.log(`    ready in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${cp.server}`);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);

  say('Creating namespaces team-a, team-b (labelled pull-secrets=demo), team-c (not labelled) and regcred-system');
  for (const [name, labels] of [
    ['team-a', { 'pull-secrets': 'demo' }],
    ['team-b', { 'pull-secrets': 'demo' }],
    ['team-c', {}],
    ['regcred-system', {}],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name, labels: { ...labels } } } });
  }
  // Source Secrets with throwaway passwords: they must never be printed below.
  const passwords = [randomBytes(12).toString('hex'), randomBytes(12).toString('hex')];
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'demo-registry' }, stringData: { registry: 'registry.example.com:5000', username: 'robot', password: passwords[0]! } },
  });
  await core.createNamespacedSecret({
    namespace: 'team-c',
    body: { metadata: { name: 'team-c-registry' }, stringData: { registry: 'team-c.example.com', username: 'team-c', password: passwords[1]! } },
  });
  // The controller-manager creates each namespace's default service account a moment later.
  for (const ns of ['team-a', 'team-b', 'team-c']) {
    for (let i = 0; i < 50; i++) {
      try {
        await core.readNamespacedServiceAccount({ namespace: ns, name: 'default' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  const sync = (label: string) => {
    say(`${label}: regcred sync -f examples/static.yaml`);
    const res = spawnSync(process.execPath, [CLI_PATH, 'sync', '-f', EXAMPLE, '--kubeconfig', cp.kubeconfigPath], { encoding: 'utf8' });
    for (const line of (res.stdout + res.stderr).split('\n')) if (line) console.log(`    ${line}`);
    console.log(`    exit status ${res.status}`);
    const printed = res.stdout + res.stderr;
    if (passwords.some((p) => printed.includes(p))) throw new Error('a password appeared in the output');
    return res.status;
  };
  if (sync('First run') !== 0) process.exitCode = 1;

  say('What regcred wrote (passwords redacted)');
  const rows: string[][] = [['NAMESPACE', 'SECRET', 'TYPE', 'REGISTRY', 'USERNAME', 'PASSWORD', 'SERVICE ACCOUNTS USING IT']];
  for (const ns of ['team-a', 'team-b', 'team-c']) {
    const secrets = (await core.listNamespacedSecret({ namespace: ns, labelSelector: 'app.kubernetes.io/managed-by=regcred' })).items;
    const sas = (await core.listNamespacedServiceAccount({ namespace: ns })).items;
    for (const s of secrets) {
      const cfg = JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
        auths: Record<string, { username: string; password: string }>;
      };
      for (const [registry, auth] of Object.entries(cfg.auths)) {
        const users = sas.filter((sa) => sa.imagePullSecrets?.some((r) => r.name === s.metadata?.name)).map((sa) => sa.metadata?.name);
        rows.push([ns, s.metadata?.name ?? '', s.type ?? '', registry, auth.username, `<${auth.password.length} chars>`, users.join(',') || '-']);
      }
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(('    ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).trimEnd());

  if (sync('Second run, nothing changed (no writes expected)') !== 0) process.exitCode = 1;
} finally {
  say('Stopping the control plane');
  await cp.stop();
}
