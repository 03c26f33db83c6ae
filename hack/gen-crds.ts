// Writes the CustomResourceDefinitions, generated from the zod schema (src/crdgen/crd.ts), into the
// Helm chart. Run after changing src/config/schema.ts, common.ts or a provider's configSchema:
//
//   npx tsc -p . && node dist/hack/gen-crds.js
//
// test/unit/crd.test.ts fails while the committed files differ from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdFiles } from '../src/crdgen/crd.js';

/** charts/regcred/crds in the repository (this file runs as dist/hack/gen-crds.js). */
export const CRD_DIR = fileURLToPath(new URL('../../charts/regcred/crds/', import.meta.url));

mkdirSync(CRD_DIR, { recursive: true });
for (const file of crdFiles()) {
  const path = join(CRD_DIR, file.name);
  writeFileSync(path, file.content);
  console.log(`wrote ${path}`);
}
