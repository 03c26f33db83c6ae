import { objectRef } from '../config/schema.js';
import { EXIT_INVALID, EXIT_OK, loadOrReport, type Output } from './common.js';

export async function runValidate(files: readonly string[], output: Output): Promise<number> {
  const creds = await loadOrReport(files, output);
  if (!creds) return EXIT_INVALID;
  for (const c of creds) output.out(`${objectRef(c.object)}: valid (provider ${c.object.spec.provider.key})`);
  return EXIT_OK;
}
