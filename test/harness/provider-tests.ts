// What the provider end-to-end tests share: the credential file they sync, and reading back the
// Secret it wrote.
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';

export type Auths = Record<string, { username: string; password: string; auth: string }>;

/** A ClusterRegistryCredential using `provider` (its config as flow YAML), writing `pull-<name>` into the namespaces given. */
export function credentialYaml(provider: string, name: string, providerYaml: string, namespaces: string | readonly string[]): string {
  const names = typeof namespaces === 'string' ? [namespaces] : namespaces;
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    ${provider}: ${providerYaml}
  target:
    secretName: pull-${name}
    namespaces: {names: [${names.join(', ')}]}
    serviceAccounts: []
`;
}

/** The `auths` of a written pull Secret (asserting it is one). */
export function authsOf(secret: V1Secret | undefined): Auths {
  assert.ok(secret, 'the Secret was written');
  assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  return (JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as { auths: Auths }).auths;
}

/** One `auths` entry as regcred writes it. */
export function authEntry(username: string, password: string): Auths[string] {
  return { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') };
}
