// External Secrets Operator as the benchmark's peer: its controller (built from the Go module proxy
// by bench/eso/build-eso.sh) run against the same control plane, copying the same source Secret
// into the same namespaces the way its users do it for pull secrets: a ClusterExternalSecret
// (namespace selector) whose ExternalSecrets read the source through a `kubernetes`
// ClusterSecretStore and render a kubernetes.io/dockerconfigjson template.
// (https://external-secrets.io/latest/provider/kubernetes/,
//  https://external-secrets.io/latest/api/clusterexternalsecret/,
//  https://external-secrets.io/latest/guides/common-k8s-secret-types/#dockerconfigjson-example)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../../test/harness/controlplane.js';

const GROUP = 'external-secrets.io';
const VERSION = 'v1';
const BUILD_SCRIPT = fileURLToPath(new URL('../../../bench/eso/build-eso.sh', import.meta.url));

export interface EsoProcess {
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/** The path of the ESO binary (built and cached on first use; several minutes cold). */
export function esoBinary(): string {
  return execFileSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/**
 * Installs ESO's CRDs from its release bundle. Their conversion webhook (v1beta1 <-> v1) is dropped:
 * the benchmark creates and reads v1 only, the storage version, so the API server never converts.
 */
export async function installEsoCrds(cp: ControlPlane, binary: string): Promise<void> {
  const docs = parseAllDocuments(readFileSync(binary.replace(/external-secrets$/, 'crds.yaml'), 'utf8'));
  const crds = docs.map((d) => d.toJSON() as V1CustomResourceDefinition).filter((c) => c?.kind === 'CustomResourceDefinition');
  for (const crd of crds) if (crd.spec.conversion) crd.spec.conversion = { strategy: 'None' };
  // kubectl, not client-node: its serializer drops the x-kubernetes-* schema extensions these CRDs rely on.
  execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, 'apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }), stdio: ['pipe', 'ignore', 'inherit'] });
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  for (const plural of ['clustersecretstores', 'clusterexternalsecrets', 'externalsecrets']) {
    for (let i = 0; ; i++) {
      try {
        await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
        break;
      } catch (err) {
        if (i > 200) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** Runs ESO's controller (no webhook, no cert controller) with the admin kubeconfig. */
export function startEso(cp: ControlPlane, binary: string, concurrent = 16): EsoProcess {
  const child = spawn(
    binary,
    ['--metrics-addr', '127.0.0.1:0', '--concurrent', String(concurrent), '--loglevel', 'error', '--enable-cluster-push-secret-reconciler=false', '--enable-push-secret-reconciler=false'],
    // controller-runtime reads the kubeconfig from KUBECONFIG (ESO has no flag for it).
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: cp.kubeconfigPath } },
  );
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A ClusterSecretStore reading Secrets of `sourceNamespace` with a service account's token (ESO's
 * kubernetes provider talks to an API server by URL, like any remote store).
 */
export async function createKubernetesStore(cp: ControlPlane, name: string, sourceNamespace: string): Promise<void> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: sourceNamespace,
    body: { metadata: { name: 'eso-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }, { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectrulesreviews'], verbs: ['create'] }] },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: sourceNamespace,
    body: { metadata: { name: 'eso-reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'eso-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'eso-reader', namespace: sourceNamespace }] },
  });
  // SelfSubjectRulesReview is cluster-scoped in RBAC terms: ESO's store validation asks it.
  await rbac.createClusterRole({ body: { metadata: { name: 'eso-reader-review' }, rules: [{ apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectrulesreviews', 'selfsubjectaccessreviews'], verbs: ['create'] }] } });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: 'eso-reader-review' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'eso-reader-review' }, subjects: [{ kind: 'ServiceAccount', name: 'eso-reader', namespace: sourceNamespace }] },
  });
  const token = await cp.tokenFor(sourceNamespace, 'eso-reader', undefined, 86_400);
  await core.createNamespacedSecret({ namespace: sourceNamespace, body: { metadata: { name: 'eso-reader-token' }, stringData: { token } } });
  await cp.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'clustersecretstores',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ClusterSecretStore',
      metadata: { name },
      spec: {
        provider: {
          kubernetes: {
            remoteNamespace: sourceNamespace,
            server: { url: cp.server, caBundle: Buffer.from(readFileSync(cp.caPath)).toString('base64') },
            auth: { token: { bearerToken: { name: 'eso-reader-token', key: 'token', namespace: sourceNamespace } } },
          },
        },
      },
    },
  });
}

/**
 * A ClusterExternalSecret writing `secretName` (kubernetes.io/dockerconfigjson, rendered from the
 * source's registry/username/password keys) into every namespace labelled `selector`.
 */
export async function createClusterExternalSecret(
  cp: ControlPlane,
  opts: { name: string; store: string; source: string; secretName: string; selector: Record<string, string>; refreshInterval?: string; refreshTime?: string },
): Promise<void> {
  const dockerConfig = '{"auths":{"{{ .registry }}":{"username":"{{ .username }}","password":"{{ .password }}","auth":"{{ printf "%s:%s" .username .password | b64enc }}"}}}';
  await cp.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'clusterexternalsecrets',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ClusterExternalSecret',
      metadata: { name: opts.name },
      spec: {
        namespaceSelectors: [{ matchLabels: opts.selector }],
        // How often the ClusterExternalSecret looks for new namespaces (ESO's default: 1m).
        refreshTime: opts.refreshTime ?? '1m',
        externalSecretName: opts.secretName,
        externalSecretSpec: {
          refreshInterval: opts.refreshInterval ?? '1h',
          secretStoreRef: { kind: 'ClusterSecretStore', name: opts.store },
          target: { name: opts.secretName, template: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': dockerConfig } } },
          dataFrom: [{ extract: { key: opts.source } }],
        },
      },
    },
  });
}

/** ESO's resident memory, MB. */
export function esoRssMB(eso: EsoProcess): number {
  const status = readFileSync(`/proc/${eso.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
