import { z } from 'zod';
import { dns1123Label, dns1123Subdomain, duration, labelSelector } from './common.js';
import { knownProviderKeys, providerRegistry } from '../providers/registry.js';

// One schema for both kinds of ../shared/spec/API.md, used for files (`sync`, `validate`, `get`)
// and, in controller mode, for the custom resources.

export const API_GROUP = 'regcred.dev';
export const API_VERSION = `${API_GROUP}/v1alpha1`;
export const KINDS = ['ClusterRegistryCredential', 'RegistryCredential'] as const;
export type CredentialKind = (typeof KINDS)[number];

/** `spec.provider` with its one key, validated by that provider's own schema. */
export interface ProviderSpec {
  key: string;
  config: unknown;
}

export const providerSpec = z.record(z.string(), z.unknown()).transform((obj, ctx): ProviderSpec => {
  const keys = Object.keys(obj);
  const known = knownProviderKeys().join(', ');
  if (keys.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message:
        keys.length === 0
          ? `exactly one provider key is required (one of: ${known})`
          : `exactly one provider key is allowed, found ${keys.length}: ${keys.join(', ')}`,
    });
    return z.NEVER;
  }
  const key = keys[0]!;
  const def = providerRegistry.get(key);
  if (!def) {
    ctx.addIssue({ code: 'custom', path: [key], message: `unknown provider "${key}" (known: ${known})` });
    return z.NEVER;
  }
  const parsed = def.configSchema.safeParse(obj[key] ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: 'custom', path: [key, ...issue.path], message: issue.message });
    }
    return z.NEVER;
  }
  return { key, config: parsed.data };
});

export const namespaceTarget = z
  .strictObject({
    names: z.array(dns1123Label).min(1, 'must list at least one namespace').optional(),
    selector: labelSelector.optional(),
    all: z.literal(true, { error: 'must be true when set' }).optional(),
    exclude: z.array(dns1123Label).optional(),
  })
  .superRefine((t, ctx) => {
    const set = (['names', 'selector', 'all'] as const).filter((k) => t[k] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: set.length === 0 ? 'needs exactly one of names, selector, all' : `takes exactly one of names, selector, all; found ${set.join(' and ')}`,
      });
    }
  });
export type NamespaceTarget = z.infer<typeof namespaceTarget>;

const RESERVED_KEY = /^(app\.kubernetes\.io\/managed-by|regcred\.dev\/.*)$/;
/** A Kubernetes label value: at most 63 characters, alphanumerics with -_. inside. */
const labelValue = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a label value: alphanumerics, "-", "_" and ".", starting and ending with an alphanumeric');
/**
 * A label or annotation key (a Kubernetes qualified name): an optional DNS-subdomain prefix and
 * "/", then a name of at most 63 alphanumerics with -_. inside. The CRD checks the same with CEL
 * (QUALIFIED_KEY_RULE in src/crdgen/cel.ts), so a bad key fails at admission, not at the Secret write.
 */
export const QUALIFIED_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** At most this many extra labels, and as many annotations, on a written Secret. */
export const MAX_EXTRA_KEYS = 64;
function checkKeys(m: Record<string, unknown>, ctx: z.core.$RefinementCtx<Record<string, unknown>>): void {
  if (Object.keys(m).length > MAX_EXTRA_KEYS) ctx.addIssue({ code: 'custom', path: [], message: `at most ${MAX_EXTRA_KEYS} keys` });
  for (const key of Object.keys(m)) {
    if (RESERVED_KEY.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'is reserved for regcred' });
    else if (!QUALIFIED_KEY.test(key) || key.length > 317 || (key.includes('/') && key.indexOf('/') > 253)) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'is not a valid key: [prefix/]name, the name at most 63 alphanumerics with "-", "_" and "." inside' });
    }
  }
}
const labelMap = z.record(z.string(), labelValue).superRefine(checkKeys);
const stringMap = z.record(z.string(), z.string()).superRefine(checkKeys);

export const targetSpec = z.strictObject({
  secretName: dns1123Subdomain,
  namespaces: namespaceTarget.optional(),
  /** Service accounts whose imagePullSecrets get the Secret; ["*"] = every one; [] = none. */
  serviceAccounts: z.array(z.union([z.literal('*'), dns1123Subdomain])).default(['default']),
  labels: labelMap.default({}),
  annotations: stringMap.default({}),
  adopt: z.boolean().default(false),
});
export type TargetSpec = z.infer<typeof targetSpec>;

export const refreshSpec = z.strictObject({
  renewBefore: duration.optional(),
  interval: duration.default('6h'),
});

export const credentialSpec = z.strictObject({
  provider: providerSpec,
  target: targetSpec,
  refresh: refreshSpec.default({ interval: '6h' }),
  cleanupPolicy: z.enum(['Delete', 'Retain']).default('Delete'),
});
export type CredentialSpec = z.infer<typeof credentialSpec>;

const metadata = z.looseObject({
  name: dns1123Subdomain,
  namespace: dns1123Label.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  uid: z.string().optional(),
  generation: z.number().optional(),
});

export const credentialObject = z
  .looseObject({
    apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
    kind: z.enum(KINDS, { error: `must be one of ${KINDS.join(', ')}` }),
    metadata,
    spec: credentialSpec,
  })
  .superRefine((obj, ctx) => {
    if (obj.kind === 'ClusterRegistryCredential') {
      if (!obj.spec.target.namespaces) {
        ctx.addIssue({ code: 'custom', path: ['spec', 'target', 'namespaces'], message: 'is required for ClusterRegistryCredential' });
      }
    } else {
      if (obj.spec.target.namespaces) {
        ctx.addIssue({
          code: 'custom',
          path: ['spec', 'target', 'namespaces'],
          message: 'is not allowed for RegistryCredential (it writes into its own namespace only)',
        });
      }
      if (!obj.metadata.namespace) {
        ctx.addIssue({ code: 'custom', path: ['metadata', 'namespace'], message: 'is required for RegistryCredential' });
      }
      const clusterOnly = providerRegistry.get(obj.spec.provider.key)?.clusterOnly;
      if (clusterOnly) {
        ctx.addIssue({ code: 'custom', path: ['spec', 'provider', obj.spec.provider.key], message: clusterOnlyMessage(obj.spec.provider.key, clusterOnly) });
      }
    }
  });

export type CredentialObject = z.infer<typeof credentialObject>;

/** Why a provider is refused in a RegistryCredential; the same words in zod and the CRD's CEL rule. */
export function clusterOnlyMessage(key: string, reason: string): string {
  return `provider ${key} is allowed only in a ClusterRegistryCredential: ${reason}`;
}

/** "ClusterRegistryCredential/name" or "RegistryCredential/ns/name": how messages name an object. */
export function objectRef(obj: { kind: string; metadata: { name?: string; namespace?: string | undefined } }): string {
  const ns = obj.kind === 'RegistryCredential' && obj.metadata.namespace ? `${obj.metadata.namespace}/` : '';
  return `${obj.kind}/${ns}${obj.metadata.name ?? '?'}`;
}
