// `regcred kubelet-config -f FILE`: the kubelet's CredentialProviderConfig (kubelet.config.k8s.io/v1,
// https://kubernetes.io/docs/reference/config-api/kubelet-config.v1/) for the credentials a node's
// own plugins can serve, so those registries need no pull secret at all (docs/secretless.md):
//  - exec: the plugin itself, its args and literal env; its serviceAccountToken becomes
//    tokenAttributes (KEP-4412, beta in 1.34: the kubelet passes the Pod's own service-account
//    token; cacheType is required since 1.34, kubernetes/kubernetes#132617);
//  - ecr: cloud-provider-aws's ecr-credential-provider (the node's IAM role);
//  - gcp: cloud-provider-gcp's auth-provider-gcp (the node's service account);
//  - acr: cloud-provider-azure's acr-credential-provider (the node's managed identity, azure.json).
// Everything else (static, ecrPublic, chainguard, quay, jit, crusoe, http) has no kubelet plugin and
// stays a pull secret; each is named on stderr. Nothing secret is printed: env values that come
// from Secrets are left for the node's own configuration, and named on stderr.
import { stringify } from 'yaml';
import { objectRef, type CredentialObject } from '../config/schema.js';
import type { AcrConfig } from '../providers/acr/schema.js';
import type { EcrConfig } from '../providers/ecr.js';
import type { ExecConfig } from '../providers/exec/schema.js';
import type { GcpConfig } from '../providers/gcp/schema.js';
import { EXIT_INVALID, EXIT_OK, loadOrReport, type Output } from './common.js';

export interface KubeletConfigOptions {
  files: string[];
}

export interface KubeletCredentialProvider {
  name: string;
  matchImages: string[];
  defaultCacheDuration: string;
  apiVersion: 'credentialprovider.kubelet.k8s.io/v1';
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  tokenAttributes?: {
    serviceAccountTokenAudience: string;
    cacheType: 'ServiceAccount' | 'Token';
    requireServiceAccount: boolean;
    optionalServiceAccountAnnotationKeys?: string[];
  };
}

export interface KubeletConfigResult {
  providers: KubeletCredentialProvider[];
  /** Lines for stderr: what stays a pull secret, what the node must still be given. */
  notes: string[];
}

const PLUGIN_API = 'credentialprovider.kubelet.k8s.io/v1' as const;
// The patterns each cloud's own plugin is documented with.
const ECR_IMAGES = ['*.dkr.ecr.*.amazonaws.com', '*.dkr.ecr.*.amazonaws.com.cn', '*.dkr.ecr-fips.*.amazonaws.com'];
const GCP_IMAGES = ['container.cloud.google.com', 'gcr.io', '*.gcr.io', '*.pkg.dev'];

function ecrImages(c: EcrConfig): string[] {
  const regions = c.regions ?? (c.region ? [c.region] : []);
  if (regions.length === 0) return ECR_IMAGES;
  const suffix = (r: string) => (r.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com');
  const ids = c.registryIds ?? ['*'];
  return regions.flatMap((r) => ids.map((id) => `${id}.dkr.ecr.${r}.${suffix(r)}`));
}

function execProvider(obj: CredentialObject, c: ExecConfig, notes: string[]): KubeletCredentialProvider {
  const name = c.command.split('/').at(-1)!;
  const env = (c.env ?? []).filter((e) => e.value !== undefined).map((e) => ({ name: e.name, value: e.value! }));
  for (const e of c.env ?? []) {
    if (e.value === undefined) notes.push(`${objectRef(obj)}: env ${e.name} comes from a Secret and is not printed; give it to the plugin on the node`);
  }
  const p: KubeletCredentialProvider = {
    name,
    matchImages: c.registries,
    defaultCacheDuration: c.defaultCacheDuration ?? '1h',
    apiVersion: PLUGIN_API,
    ...(c.args?.length ? { args: c.args } : {}),
    ...(env.length ? { env } : {}),
  };
  if (c.serviceAccountToken) {
    const keys = Object.keys(c.serviceAccountToken.annotations ?? {});
    p.tokenAttributes = {
      serviceAccountTokenAudience: c.serviceAccountToken.audience,
      // The plugin's answer depends on the service account, not on the Pod: cache per service account.
      cacheType: 'ServiceAccount',
      requireServiceAccount: true,
      ...(keys.length ? { optionalServiceAccountAnnotationKeys: keys } : {}),
    };
    notes.push(
      `${objectRef(obj)}: the kubelet sends each Pod's own service-account token (audience ${c.serviceAccountToken.audience}), not ${c.serviceAccountToken.serviceAccount.name}'s; ` +
        'the plugin\'s identity provider must trust those service accounts (Kubernetes 1.34+, KubeletServiceAccountTokenForCredentialProviders)',
    );
  }
  return p;
}

/** The kubelet providers for the credentials; credentials without a kubelet plugin are named in `notes`. */
export function kubeletConfigFor(objects: readonly CredentialObject[]): KubeletConfigResult {
  const byName = new Map<string, KubeletCredentialProvider>();
  const notes: string[] = [];
  const add = (p: KubeletCredentialProvider) => {
    const existing = byName.get(p.name);
    if (!existing) return void byName.set(p.name, p);
    // One entry per plugin (names must be unique): the images of every credential using it.
    for (const m of p.matchImages) if (!existing.matchImages.includes(m)) existing.matchImages.push(m);
  };
  for (const obj of objects) {
    const { key, config } = obj.spec.provider;
    switch (key) {
      case 'exec':
        add(execProvider(obj, config as ExecConfig, notes));
        break;
      case 'ecr': {
        const c = config as EcrConfig;
        add({ name: 'ecr-credential-provider', matchImages: ecrImages(c), defaultCacheDuration: '12h', apiVersion: PLUGIN_API });
        if (c.auth) notes.push(`${objectRef(obj)}: ecr-credential-provider uses the node's IAM role, not this credential's auth; grant the node role ECR pull`);
        break;
      }
      case 'gcp':
        add({ name: 'auth-provider-gcp', matchImages: [...((config as GcpConfig).registries ?? GCP_IMAGES)], defaultCacheDuration: '1m', args: ['get-credentials', '--v=3'], apiVersion: PLUGIN_API });
        notes.push(`${objectRef(obj)}: auth-provider-gcp uses the node's service account; grant it Artifact Registry Reader`);
        break;
      case 'acr': {
        const c = config as AcrConfig;
        add({ name: 'acr-credential-provider', matchImages: [c.registry], defaultCacheDuration: '10m', args: ['/etc/kubernetes/azure.json'], apiVersion: PLUGIN_API });
        notes.push(`${objectRef(obj)}: acr-credential-provider uses the node's identity from /etc/kubernetes/azure.json; grant it AcrPull on ${c.registry}`);
        break;
      }
      default:
        notes.push(`${objectRef(obj)}: provider ${key} has no kubelet credential plugin; keep it as a pull secret`);
    }
  }
  return { providers: [...byName.values()], notes };
}

export async function runKubeletConfig(opts: KubeletConfigOptions, output: Output, stdout: (text: string) => void): Promise<number> {
  const loaded = await loadOrReport(opts.files, output);
  if (!loaded) return EXIT_INVALID;
  const { providers, notes } = kubeletConfigFor(loaded.map((l) => l.object));
  for (const n of notes) output.err(`note: ${n}`);
  if (providers.length === 0) {
    output.err('error: none of these credentials can be served by a kubelet credential plugin');
    return EXIT_INVALID;
  }
  stdout(
    `# kubelet --image-credential-provider-config=<this file> --image-credential-provider-bin-dir=<the plugins' directory>\n` +
      `# generated by regcred kubelet-config from ${opts.files.join(', ')} (docs/secretless.md)\n` +
      stringify({ apiVersion: 'kubelet.config.k8s.io/v1', kind: 'CredentialProviderConfig', providers }),
  );
  return EXIT_OK;
}
