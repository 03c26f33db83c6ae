// Installs the CRDs the Helm chart ships (charts/regcred/crds/) and waits until they are served.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { parseAllDocuments } from 'yaml';

export const CRD_DIR = fileURLToPath(new URL('../../../charts/regcred/crds/', import.meta.url));

export function chartCrds(): V1CustomResourceDefinition[] {
  return readdirSync(CRD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(CRD_DIR, f), 'utf8')).map((d) => d.toJS() as { kind?: string }))
    .filter((d) => d?.kind === 'CustomResourceDefinition')
    // client-node serializes its typed models, and reads their camelCase fields only: a plain object
    // would lose `default`, `x-kubernetes-validations` and list types on the way. Deserialize first.
    .map((d) => ObjectSerializer.deserialize(d, 'V1CustomResourceDefinition', '') as V1CustomResourceDefinition);
}

export async function installCrds(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crds = chartCrds();
  for (const crd of crds) await api.createCustomResourceDefinition({ body: crd });
  for (const crd of crds) {
    for (let i = 0; ; i++) {
      const got = await api.readCustomResourceDefinition({ name: crd.metadata!.name! });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (i > 100) throw new Error(`CRD ${crd.metadata?.name} not established`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Discovery takes a moment after Established; a list proves the resource is served.
  const { CustomObjectsApi } = await import('@kubernetes/client-node');
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const crd of crds) {
    for (let i = 0; ; i++) {
      try {
        await custom.listClusterCustomObject({ group: crd.spec.group, version: crd.spec.versions[0]!.name, plural: crd.spec.names.plural });
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
