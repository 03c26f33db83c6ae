// The Helm chart against a real API server: lint, every mode rendered and accepted by the API server
// (server-side dry run), installed with helm, and the controller run (from this repository's bundle,
// with the Deployment's own command and arguments) as the chart's ServiceAccount with exactly the
// chart's RBAC. No kubelet runs here, so the chart's Pods never start: the controller process stands
// in for the Deployment's Pod.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiextensionsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli } from '../harness/cli.js';
import { CHART_DIR, helm, renderChart, runLikeDeployment, stopProcess, valuesFile, type RenderedObject } from '../harness/helm.js';
import { createPodWhenAdmissible, secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { controllerNodeFlags, DEFAULT_HEAP_PERCENTAGE } from '../../src/node-flags.js';
import { chartHeapPercentage, chartMemoryLimitBytes } from '../harness/chart-container.js';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/controlplane.js';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';

let cp: ControlPlane;
let core: CoreV1Api;
const PASSWORD = `chart-${Math.random().toString(36).slice(2)}${Date.now()}`;

const staticCredential = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  spec: {
    provider: { static: { secretRef: { name: 'chart-src' } } },
    target: { secretName: `${name}-pull`, namespaces: { selector: { matchLabels: { chart: 'yes' } } }, serviceAccounts: ['default'] },
    cleanupPolicy: 'Retain',
    ...extra,
  },
});
const sourceSecret = (namespace?: string) => ({
  name: 'chart-src',
  ...(namespace ? { namespace } : {}),
  type: 'kubernetes.io/basic-auth',
  stringData: { registry: 'registry.example.com', username: 'robot', password: PASSWORD },
});

function find(objects: RenderedObject[], kind: string, name?: string): RenderedObject {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `rendered ${kind}${name ? ` ${name}` : ''}`);
  return o;
}


/** May this service account do this? (a SubjectAccessReview, asked as admin) */
async function can(sa: string, verb: string, resource: string, namespace?: string, group = '', subresource?: string): Promise<boolean> {
  const res = await cp.kubeConfig.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: { spec: { user: sa, resourceAttributes: { verb, resource, group, ...(namespace ? { namespace } : {}), ...(subresource ? { subresource } : {}) } } },
  });
  return res.status?.allowed === true;
}

async function dryRunCreate(objects: RenderedObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(cp.kubeConfig);
  for (const o of objects) {
    try {
      await api.create(o as KubernetesObject, undefined, 'All');
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      assert.fail(`the API server refused ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${typeof body === 'string' ? body : JSON.stringify(body ?? String(err))}`);
    }
  }
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  // The chart's CRDs (crds/), as `helm install` installs them first: CRs must pass the dry runs.
  assert.equal((await renderChart({}, { includeCrds: true })).filter((o) => o.kind === 'CustomResourceDefinition').length, 2);
  await installCrds(cp.kubeConfig);
  // Stand-ins for the Prometheus operator's CRDs, so ServiceMonitor and PrometheusRule can be dry-run.
  const ext = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
  // ... and cert-manager's, for the webhook's Certificate and Issuer.
  for (const [kind, plural, group] of [
    ['ServiceMonitor', 'servicemonitors', 'monitoring.coreos.com'],
    ['PrometheusRule', 'prometheusrules', 'monitoring.coreos.com'],
    ['Certificate', 'certificates', 'cert-manager.io'],
    ['Issuer', 'issuers', 'cert-manager.io'],
  ] as const) {
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
        },
      },
    });
  }
  for (const ns of ['regcred-system', 'chart-a', 'chart-b', 'chart-other', 'tenant-a', 'tenant-b']) {
    await core.createNamespace({ body: { metadata: { name: ns, labels: ns.startsWith('chart-') && ns !== 'chart-other' ? { chart: 'yes' } : {} } } });
  }
});

after(async () => {
  await cp?.stop();
});

describe('the Helm chart: lint, render, dry-run', () => {
  test('helm lint passes in both modes', async () => {
    for (const args of [[], ['--set', 'mode=cronjob'], ['--set', 'rbac.namespaced=true', '--set', 'rbac.namespaces={a}']]) {
      const res = await helm(['lint', CHART_DIR, ...args]);
      assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    }
  });

  test('controller mode: every object is accepted by the API server (server-side dry run); pod hardened; the controller’s node flags', async () => {
    const objects = await renderChart({
      credentials: [staticCredential('dry')],
      sourceSecrets: [sourceSecret()],
      controller: { replicaCount: 2 },
      metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
    });
    const kinds = objects.map((o) => o.kind).sort();
    assert.deepEqual(kinds, [
      'ClusterRegistryCredential',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'PrometheusRule',
      'Role',
      'RoleBinding',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
    await dryRunCreate(objects);
    const deployment = find(objects, 'Deployment');
    const pod = deployment['spec'].template.spec;
    assert.equal(deployment['spec'].replicas, 2);
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    assert.equal(pod.shareProcessNamespace, true, 'pause, PID 1, reaps orphaned exec plugin processes');
    const c = pod.containers[0];
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    assert.ok(c.resources.requests && c.resources.limits.memory, 'resources set');
    assert.deepEqual(c.command, ['node', ...controllerNodeFlags(), '/app/regcred.mjs'], 'the heap share of src/node-flags.ts, nothing else');
    assert.ok(c.args.includes('--leader-elect'));
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    const rule = find(objects, 'PrometheusRule');
    const alerts = (rule['spec'].groups[0].rules as Array<{ alert: string; expr: string }>).map((r) => `${r.alert}: ${r.expr}`);
    assert.deepEqual(alerts, [
      'RegcredCredentialExpiringSoon: (regcred_credential_expiry_timestamp_seconds - time()) < 1800',
      'RegcredCredentialNotReady: regcred_credential_ready == 0',
    ]);
    // No TokenRequest permission: no configured provider needs it.
    const role = find(objects, 'Role');
    assert.ok(!JSON.stringify(role['rules']).includes('serviceaccounts/token'));
    assert.deepEqual(role['rules'], [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
  });

  test('TokenRequest permission only when a provider needs it (auto), in the release namespace', async () => {
    const objects = await renderChart({
      credentials: [
        {
          name: 'ecr',
          spec: {
            provider: { ecr: { region: 'us-east-1', auth: { webIdentity: { roleArn: 'arn:aws:iam::123456789012:role/r', serviceAccount: { name: 'regcred' } } } } },
            target: { secretName: 'ecr', namespaces: { all: true } },
          },
        },
      ],
    });
    const role = find(objects, 'Role');
    assert.ok(JSON.stringify(role['rules']).includes('serviceaccounts/token'));
    assert.ok(!JSON.stringify(find(objects, 'ClusterRole')['rules']).includes('serviceaccounts/token'), 'not cluster-wide');
    await dryRunCreate(objects);
  });

  test('cronjob mode: CronJob (Forbid, history limits), config, the initial Job hook; accepted by the API server', async () => {
    const objects = await renderChart({ mode: 'cronjob', credentials: [staticCredential('cj')] });
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CronJob', 'Job', 'ServiceAccount']);
    await dryRunCreate(objects);
    const cron = find(objects, 'CronJob');
    assert.equal(cron['spec'].schedule, '0 */6 * * *');
    assert.equal(cron['spec'].concurrencyPolicy, 'Forbid');
    assert.equal(cron['spec'].successfulJobsHistoryLimit, 3);
    const job = find(objects, 'Job');
    assert.equal(job.metadata.annotations?.['helm.sh/hook'], 'post-install,post-upgrade');
    // The rendered config file is valid input for `regcred validate`.
    const config = find(objects, 'ConfigMap')['data']['credentials.yaml'] as string;
    const res = await runCli(['validate', '-f', '-'], { input: config });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const clusterRole = find(objects, 'ClusterRole');
    assert.ok(!JSON.stringify(clusterRole['rules']).includes('regcred.dev'), 'sync reads no CRDs');
    assert.ok(!JSON.stringify(clusterRole['rules']).includes('watch'), 'sync watches nothing');
  });

  test('namespaced mode: nothing cluster-wide, a Role per listed namespace; accepted by the API server', async () => {
    const objects = await renderChart({
      rbac: { namespaced: true, namespaces: ['tenant-a'] },
      credentials: [{ ...staticCredential('ns'), namespace: 'tenant-a' }],
      sourceSecrets: [sourceSecret('tenant-a')],
    });
    assert.ok(!objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'));
    assert.equal(find(objects, 'RegistryCredential').metadata.namespace, 'tenant-a');
    assert.ok(objects.some((o) => o.kind === 'Role' && o.metadata.namespace === 'tenant-a'));
    assert.ok(find(objects, 'Deployment')['spec'].template.spec.containers[0].args.includes('--watch-namespace=tenant-a'));
    await dryRunCreate(objects);
  });

  test('RBAC: only the verbs regcred calls, cluster-wide and in namespaced Roles', async () => {
    const verbs = (rules: Array<{ resources: string[]; verbs: string[] }>, resource: string) => rules.find((r) => r.resources.includes(resource))?.verbs;
    const cluster = find(await renderChart({}), 'ClusterRole')['rules'];
    const tenantRole = (await renderChart({ rbac: { namespaced: true, namespaces: ['tenant-a'] } })).find((o) => o.kind === 'Role' && o.metadata.namespace === 'tenant-a');
    assert.ok(tenantRole);
    const role = tenantRole['rules'];
    for (const rules of [cluster, role]) {
      assert.deepEqual(verbs(rules, 'secrets'), ['get', 'list', 'watch', 'create', 'update', 'delete'], 'Secrets are replaced, never patched');
      assert.deepEqual(verbs(rules, 'serviceaccounts'), ['get', 'list', 'watch', 'patch'], 'service accounts are patched, never updated');
      assert.deepEqual(verbs(rules, 'registrycredentials'), ['get', 'list', 'watch', 'patch'], 'the finalizer is a patch');
      assert.deepEqual(verbs(rules, 'registrycredentials/status'), ['patch']);
      assert.equal(verbs(rules, 'registrycredentials/finalizers'), undefined);
    }
    const cron = find(await renderChart({ mode: 'cronjob' }), 'ClusterRole')['rules'];
    assert.deepEqual(verbs(cron, 'secrets'), ['get', 'list', 'create', 'update']);
    assert.deepEqual(verbs(cron, 'serviceaccounts'), ['get', 'list', 'patch']);
  });

  test('chainguardCompat: its identities and namespaces become flags; no identities is refused', async () => {
    const objects = await renderChart({ controller: { chainguardCompat: { enabled: true, identities: ['org/id1', 'org/id2'], namespaces: ['team-a'] } } });
    const args = find(objects, 'Deployment')['spec'].template.spec.containers[0].args as string[];
    assert.ok(args.includes('--chainguard-compat-identities=org/id1') && args.includes('--chainguard-compat-identities=org/id2'));
    assert.ok(args.includes('--chainguard-compat-namespaces=team-a'));
    await assert.rejects(renderChart({ controller: { chainguardCompat: { enabled: true } } }), /chainguardCompat\.identities/);
  });

  test('kube.qps and kube.burst: the client-side rate limit flags of the controller and of sync', async () => {
    const argsOf = (objects: RenderedObject[], kind: 'Deployment' | 'CronJob') => {
      const o = find(objects, kind)['spec'];
      return (kind === 'Deployment' ? o.template.spec.containers[0].args : o.jobTemplate.spec.template.spec.containers[0].args) as string[];
    };
    const defaults = argsOf(await renderChart({}), 'Deployment');
    assert.ok(defaults.includes('--kube-qps=500') && defaults.includes('--kube-burst=1000'), defaults.join(' '));
    const set = { kube: { qps: 0.5, burst: 3 } };
    for (const [values, kind] of [[set, 'Deployment'], [{ ...set, mode: 'cronjob' }, 'CronJob']] as const) {
      const args = argsOf(await renderChart(values), kind);
      assert.ok(args.includes('--kube-qps=0.5') && args.includes('--kube-burst=3'), `${kind}: ${args.join(' ')}`);
    }
  });

  test('the controller’s heap: a share of the memory limit (controller.heapPercentage), then controller.nodeFlags', async () => {
    assert.equal(chartHeapPercentage(), DEFAULT_HEAP_PERCENTAGE, 'values.yaml and src/node-flags.ts agree');
    assert.ok(chartMemoryLimitBytes() > 0, 'a memory limit for the share to be taken of');
    const command = async (controller: Record<string, unknown>) =>
      (find(await renderChart({ controller }), 'Deployment')['spec'].template.spec.containers[0].command as string[]);
    assert.deepEqual(await command({ heapPercentage: 60.5, nodeFlags: ['--heapsnapshot-near-heap-limit=1'] }), [
      'node',
      '--max-old-space-size-percentage=60.5',
      '--heapsnapshot-near-heap-limit=1',
      '/app/regcred.mjs',
    ]);
    assert.deepEqual(await command({ heapPercentage: null }), ['node', '/app/regcred.mjs'], 'null: Node’s own sizing');
    for (const bad of [0, 101]) {
      await assert.rejects(renderChart({ controller: { heapPercentage: bad } }), /at '\/controller\/heapPercentage': (exclusiveMinimum|maximum)/);
    }
  });

  test('bad values fail at install with the schema’s message', async () => {
    for (const [args, message] of [
      [['--set', 'mode=daemon'], /at '\/mode': value must be one of 'controller', 'cronjob'/],
      [['--set', 'controller.replicaCount=2', '--set', 'controller.leaderElection=false'], /leaderElection/],
      [['--set', 'rbac.namespaced=true'], /at '\/rbac\/namespaces': minItems/],
      [['--set', 'securityContext.privileged=true'], /privileged/],
      [['--set', 'nosuchkey=1'], /additional properties 'nosuchkey' not allowed/],
      [['--set', 'kube.burst=0'], /at '\/kube\/burst': minimum/],
    ] as const) {
      const res = await helm(['install', 'bad', CHART_DIR, '-n', 'regcred-system', ...args], { kubeconfig: cp.kubeconfigPath });
      assert.notEqual(res.code, 0, `installed with ${args.join(' ')}`);
      assert.match(res.stderr, message);
    }
    const releases = await helm(['list', '-A', '-q'], { kubeconfig: cp.kubeconfigPath });
    assert.equal(releases.stdout.trim(), '', 'nothing installed');
  });
});

describe('the Helm chart installed: the controller with exactly the chart’s RBAC', () => {
  test('controller mode: syncs, writes status and events, holds its Lease; uninstall keeps CRDs and pull secrets (Retain)', async () => {
    const values = { credentials: [staticCredential('installed')], sourceSecrets: [sourceSecret()] };
    const install = await helm(['install', 'regcred', CHART_DIR, '-n', 'regcred-system', '--values', valuesFile(values)], { kubeconfig: cp.kubeconfigPath });
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /kubectl get clusterregistrycredentials/, 'NOTES say how to check status');
    assert.match(install.stdout, /WARNING: sourceSecrets/, 'NOTES warn about secrets in values');
    const deployment = find(await renderChart(values, { release: 'regcred' }), 'Deployment');
    const kubeconfig = await cp.kubeconfigFor('regcred-system', 'regcred');
    const ctl = runLikeDeployment(deployment, kubeconfig, 'regcred-system');
    try {
      const log = () => ctl.output.join('');
      for (const ns of ['chart-a', 'chart-b']) {
        const secret = await eventually(`Secret in ${ns}`, () => secretOrUndefined(core, ns, 'installed-pull'), 20_000, log);
        const auths = JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString()).auths;
        assert.deepEqual(auths['registry.example.com'], { username: 'robot', password: PASSWORD, auth: Buffer.from(`robot:${PASSWORD}`).toString('base64') });
      }
      assert.equal(await secretOrUndefined(core, 'chart-other', 'installed-pull'), undefined);
      const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
      const crc = await eventually('Ready status', async () => {
        const o = (await custom.getClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name: 'installed' })) as any;
        return o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? o : undefined;
      }, 20_000, log);
      assert.equal(crc.status.targets.synced, 2);
      const sa = await core.readNamespacedServiceAccount({ namespace: 'chart-a', name: 'default' });
      assert.ok(sa.imagePullSecrets?.some((r) => r.name === 'installed-pull'), 'service account patched');
      await eventually('an Event written', async () => {
        const events = await cp.kubeConfig.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default' });
        return events.items.some((e) => e.regarding?.name === 'installed' && e.reportingController === 'regcred.dev/controller');
      }, 20_000, log);
      const lease = await eventually('the Lease held', async () => {
        const l = await cp.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'regcred-system', name: 'regcred' });
        return l.spec?.holderIdentity ? l : undefined;
      });
      assert.ok(lease.spec?.holderIdentity);
      assert.doesNotMatch(log(), /forbidden/i, 'no request was refused for lack of RBAC');
      assert.ok(!log().includes(PASSWORD), 'no password in the logs');
      // Least privilege: no Leases outside its namespace, no RBAC, no token minting it does not need.
      const me = 'system:serviceaccount:regcred-system:regcred';
      assert.equal(await can(me, 'update', 'leases', 'kube-system', 'coordination.k8s.io'), false);
      assert.equal(await can(me, 'create', 'serviceaccounts', 'regcred-system', '', 'token'), false);
      assert.equal(await can(me, 'create', 'clusterroles', undefined, 'rbac.authorization.k8s.io'), false);
      assert.equal(await can(me, 'create', 'pods', 'chart-a'), false);
    } finally {
      assert.equal(await stopProcess(ctl.child), 0);
    }

    const uninstall = await helm(['uninstall', 'regcred', '-n', 'regcred-system', '--wait'], { kubeconfig: cp.kubeconfigPath });
    assert.equal(uninstall.code, 0, uninstall.stderr);
    const ext = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await ext.readCustomResourceDefinition({ name: 'clusterregistrycredentials.regcred.dev' });
    await ext.readCustomResourceDefinition({ name: 'registrycredentials.regcred.dev' });
    for (const ns of ['chart-a', 'chart-b']) assert.ok(await secretOrUndefined(core, ns, 'installed-pull'), `the pull secret in ${ns} stays`);
    await eventually('the ClusterRegistryCredential removed (no finalizer with Retain)', async () => {
      const list = (await cp.kubeConfig.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials' })) as { items: unknown[] };
      return list.items.length === 0;
    });
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await assert.rejects(rbac.readClusterRole({ name: 'regcred' }));
    await assert.rejects(core.readNamespacedServiceAccount({ namespace: 'regcred-system', name: 'regcred' }));
    assert.equal(await secretOrUndefined(core, 'regcred-system', 'chart-src'), undefined, 'the values-made source Secret goes with the release');
  });

  test('rbac.namespaced: syncs RegistryCredentials in its namespaces and can write nowhere else', async () => {
    const values = {
      rbac: { namespaced: true, namespaces: ['tenant-a'] },
      controller: { leaderElection: false },
      credentials: [{ ...staticCredential('tenant'), namespace: 'tenant-a' }],
      sourceSecrets: [sourceSecret('tenant-a')],
    };
    await core.createNamespace({ body: { metadata: { name: 'tenant-ctl' } } });
    const install = await helm(['install', 'tenant', CHART_DIR, '-n', 'tenant-ctl', '--values', valuesFile(values)], { kubeconfig: cp.kubeconfigPath });
    assert.equal(install.code, 0, install.stderr);
    // A RegistryCredential in a namespace the release does not cover: must stay untouched.
    await cp.kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      namespace: 'tenant-b',
      plural: 'registrycredentials',
      body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: { name: 'outside' }, spec: { provider: { static: { secretRef: { name: 'x' } } }, target: { secretName: 'outside-pull' } } },
    });
    const deployment = find(await renderChart(values, { release: 'tenant', namespace: 'tenant-ctl' }), 'Deployment');
    const ctl = runLikeDeployment(deployment, await cp.kubeconfigFor('tenant-ctl', 'regcred'), 'tenant-ctl');
    try {
      const log = () => ctl.output.join('');
      await eventually('Secret in tenant-a', () => secretOrUndefined(core, 'tenant-a', 'tenant-pull'), 20_000, log);
      await eventually('Ready', async () => {
        const o = (await cp.kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'regcred.dev', version: 'v1alpha1', namespace: 'tenant-a', plural: 'registrycredentials', name: 'tenant' })) as any;
        return o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      }, 20_000, log);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await secretOrUndefined(core, 'tenant-b', 'outside-pull'), undefined, 'nothing written outside its namespaces');
      assert.doesNotMatch(log(), /forbidden/i, 'it never tried what its Roles do not allow');
      const me = 'system:serviceaccount:tenant-ctl:regcred';
      assert.equal(await can(me, 'create', 'secrets', 'tenant-a'), true);
      assert.equal(await can(me, 'create', 'secrets', 'tenant-b'), false);
      assert.equal(await can(me, 'list', 'secrets'), false, 'no cluster-wide list');
      assert.equal(await can(me, 'list', 'namespaces'), false);
      assert.equal(await can(me, 'list', 'clusterregistrycredentials', undefined, 'regcred.dev'), false);
    } finally {
      assert.equal(await stopProcess(ctl.child), 0);
    }
  });

  test('cronjob mode: the rendered sync, run as the chart’s ServiceAccount, syncs with the chart’s RBAC', async () => {
    const values = { mode: 'cronjob', credentials: [staticCredential('cron')], sourceSecrets: [sourceSecret('cron-ctl')] };
    await core.createNamespace({ body: { metadata: { name: 'cron-ctl' } } });
    // --no-hooks: the initial Job would wait for a kubelet that does not run here.
    const install = await helm(['install', 'cron', CHART_DIR, '-n', 'cron-ctl', '--no-hooks', '--values', valuesFile(values)], { kubeconfig: cp.kubeconfigPath });
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /kubectl -n cron-ctl create job --from=cronjob\/cron-regcred/, 'NOTES say how to trigger a run');
    const objects = await renderChart(values, { release: 'cron', namespace: 'cron-ctl' });
    const container = find(objects, 'CronJob')['spec'].jobTemplate.spec.template.spec.containers[0] as { args: string[] };
    const config = find(objects, 'ConfigMap')['data']['credentials.yaml'] as string;
    const args = container.args.map((a) => (a === '--filename=/etc/regcred/credentials.yaml' ? '--filename=-' : a));
    const res = await runCli([...args, '--kubeconfig', await cp.kubeconfigFor('cron-ctl', 'regcred')], { input: config });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /ClusterRegistryCredential\/cron: synced 2\/2 namespaces/);
    assert.ok(await secretOrUndefined(core, 'chart-a', 'cron-pull'));
    assert.ok(!res.stdout.includes(PASSWORD) && !res.stderr.includes(PASSWORD));
  });
});

describe('the webhook in the chart', () => {
  test('rendered and accepted by the API server, self-managed and with cert-manager; RBAC only for its own configuration', async () => {
    const self = await renderChart({ webhook: { enabled: true, excludeNamespaces: ['legacy'] } }, { release: 'regcred', namespace: 'regcred-system' });
    const config = find(self, 'MutatingWebhookConfiguration', 'regcred');
    const hook = config['webhooks'][0];
    assert.equal(hook.failurePolicy, 'Ignore');
    assert.equal(hook.sideEffects, 'NoneOnDryRun');
    assert.equal(hook.reinvocationPolicy, 'IfNeeded');
    assert.ok(hook.timeoutSeconds <= 10);
    assert.deepEqual(hook.clientConfig.service, { name: 'regcred-webhook', namespace: 'regcred-system', path: '/mutate-v1-pod', port: 443 });
    assert.deepEqual(hook.namespaceSelector.matchExpressions[0], { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system', 'legacy'] });
    find(self, 'Service', 'regcred-webhook');
    const args = (find(self, 'Deployment')['spec'].template.spec.containers[0] as { args: string[] }).args;
    assert.ok(args.includes('--webhook-bind-address=:9443') && args.includes('--webhook-configuration-name=regcred') && args.includes('--webhook-secret-name=regcred-webhook-tls'));
    assert.ok(args.includes('--webhook-max-in-flight=16'));
    // Ingress to the webhook port and the metrics/health ports only; from anywhere unless restricted.
    const policy = find(self, 'NetworkPolicy', 'regcred');
    assert.deepEqual(policy['spec'].policyTypes, ['Ingress']);
    assert.deepEqual(policy['spec'].podSelector.matchLabels, find(self, 'Deployment')['spec'].selector.matchLabels);
    assert.deepEqual(policy['spec'].ingress, [
      { ports: [{ protocol: 'TCP', port: 'webhook' }] },
      { ports: [{ protocol: 'TCP', port: 'metrics' }, { protocol: 'TCP', port: 'health' }] },
    ]);
    const restricted = await renderChart(
      { webhook: { enabled: true, networkPolicy: { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }], metricsFrom: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }] } } },
      { release: 'regcred', namespace: 'regcred-system' },
    );
    const rIngress = find(restricted, 'NetworkPolicy', 'regcred')['spec'].ingress;
    assert.deepEqual(rIngress[0].from, [{ ipBlock: { cidr: '10.0.0.0/24' } }]);
    assert.deepEqual(rIngress[1].from, [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }]);
    await dryRunCreate(restricted.filter((o) => o.kind === 'NetworkPolicy'));
    const noPolicy = await renderChart({ webhook: { enabled: true, networkPolicy: { enabled: false } } }, { release: 'regcred', namespace: 'regcred-system' });
    assert.ok(!noPolicy.some((o) => o.kind === 'NetworkPolicy'));
    assert.ok(!(await renderChart({}, { release: 'regcred', namespace: 'regcred-system' })).some((o) => o.kind === 'NetworkPolicy'), 'no webhook, no policy');
    const role = find(self, 'ClusterRole', 'regcred');
    assert.deepEqual(
      role['rules'].find((r: { apiGroups: string[] }) => r.apiGroups.includes('admissionregistration.k8s.io')),
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['regcred'], verbs: ['get', 'patch'] },
    );
    await dryRunCreate(self.filter((o) => o.kind !== 'CustomResourceDefinition'));

    const cm = await renderChart({ webhook: { enabled: true, certManager: { enabled: true } } }, { release: 'regcred', namespace: 'regcred-system' });
    assert.equal(find(cm, 'MutatingWebhookConfiguration')['metadata'].annotations?.['cert-manager.io/inject-ca-from'], 'regcred-system/regcred-webhook');
    assert.deepEqual(find(cm, 'Certificate')['spec'].dnsNames, ['regcred-webhook.regcred-system.svc', 'regcred-webhook.regcred-system.svc.cluster.local']);
    find(cm, 'Issuer');
    const cmArgs = (find(cm, 'Deployment')['spec'].template.spec.containers[0] as { args: string[] }).args;
    assert.ok(cmArgs.includes('--webhook-cert-dir=/etc/regcred/webhook-tls'));
    assert.ok(!find(cm, 'ClusterRole', 'regcred')['rules'].some((r: { apiGroups: string[] }) => r.apiGroups.includes('admissionregistration.k8s.io')), 'cert-manager mode: no access to the configuration');
    await dryRunCreate(cm.filter((o) => o.kind !== 'CustomResourceDefinition'));

    const ns = await renderChart({ rbac: { namespaced: true, namespaces: ['tenant-a'] }, webhook: { enabled: true } }, { release: 'regcred', namespace: 'regcred-system' });
    const nsHook = find(ns, 'MutatingWebhookConfiguration')['webhooks'][0];
    assert.deepEqual(nsHook.namespaceSelector.matchExpressions[1], { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['tenant-a'] });
    find(ns, 'ClusterRole', 'regcred-webhook');
    await dryRunCreate(ns.filter((o) => o.kind !== 'CustomResourceDefinition'));
  });

  test('installed: the Deployment\'s command, as the chart\'s ServiceAccount, publishes its CA and mutates a new namespace\'s Pod', async () => {
    const port = await freePort();
    const credential = staticCredential('hooked');
    (credential.spec.target as { serviceAccounts: string[] }).serviceAccounts = [];
    const values = {
      credentials: [credential],
      sourceSecrets: [sourceSecret()],
      // The controller runs on loopback here, not behind the Service: the API server calls the URL.
      webhook: { enabled: true, port, url: `https://127.0.0.1:${port}/mutate-v1-pod`, hosts: ['127.0.0.1'] },
    };
    const install = await helm(['install', 'hook', CHART_DIR, '-n', 'regcred-system', '--values', valuesFile(values)], { kubeconfig: cp.kubeconfigPath });
    assert.equal(install.code, 0, install.stderr);
    const deployment = find(await renderChart(values, { release: 'hook', namespace: 'regcred-system' }), 'Deployment');
    const ctl = runLikeDeployment(deployment, await cp.kubeconfigFor('regcred-system', 'regcred'), 'regcred-system');
    const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    try {
      const log = () => ctl.output.join('');
      await eventually('the CA bundle published', async () => (await admission.readMutatingWebhookConfiguration({ name: 'hook-regcred' })).webhooks?.[0]?.clientConfig.caBundle, 30_000, log);
      // The bundle is published before the certificate Secret is written (src/webhook/tls.ts).
      const tls = await eventually('the certificate Secret written', () => secretOrUndefined(core, 'regcred-system', 'hook-regcred-webhook-tls'), 30_000, log);
      assert.equal(tls.type, 'kubernetes.io/tls');
      await new Promise((r) => setTimeout(r, 1500)); // the API server's view of the configuration
      await core.createNamespace({ body: { metadata: { name: 'chart-hooked', labels: { chart: 'yes' } } } });
      const pod = await createPodWhenAdmissible(core, 'chart-hooked', { metadata: { name: 'app' }, spec: { containers: [{ name: 'app', image: 'registry.example.com/team/app:1' }] } }, { context: log });
      assert.deepEqual(pod.spec?.imagePullSecrets?.map((r) => r.name), ['hooked-pull']);
      assert.ok(await secretOrUndefined(core, 'chart-hooked', 'hooked-pull'), 'the Secret was there when the Pod was admitted');
      assert.doesNotMatch(log(), /forbidden/i, 'no request was refused for lack of RBAC');
      const me = 'system:serviceaccount:regcred-system:regcred';
      assert.equal(await can(me, 'patch', 'mutatingwebhookconfigurations', undefined, 'admissionregistration.k8s.io'), false, 'not any configuration');
    } finally {
      assert.equal(await stopProcess(ctl.child), 0);
      const uninstall = await helm(['uninstall', 'hook', '-n', 'regcred-system', '--wait'], { kubeconfig: cp.kubeconfigPath });
      assert.equal(uninstall.code, 0, uninstall.stderr);
    }
  });
});
