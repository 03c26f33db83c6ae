import { formatPath } from '../config/load.js';
import { objectRef } from '../config/schema.js';
import { checkTenantPolicy, type TenantPolicy } from '../config/tenant-policy.js';
import { providerRegistry } from '../providers/registry.js';
import { EXIT_INVALID, EXIT_OK, loadOrReport, type Output } from './common.js';

/** Schema errors, then what the tenant policy refuses in RegistryCredentials: either is exit 2. */
export async function runValidate(files: readonly string[], output: Output, policy: TenantPolicy): Promise<number> {
  const creds = await loadOrReport(files, output);
  if (!creds) return EXIT_INVALID;
  let refused = false;
  for (const c of creds) {
    const violations = checkTenantPolicy(c.object, policy, providerRegistry);
    for (const v of violations) output.err(`${c.file}: ${objectRef(c.object)}: ${formatPath(v.path)}: ${v.message} (${v.rule})`);
    if (violations.length > 0) refused = true;
    else output.out(`${objectRef(c.object)}: valid (provider ${c.object.spec.provider.key})`);
  }
  return refused ? EXIT_INVALID : EXIT_OK;
}
