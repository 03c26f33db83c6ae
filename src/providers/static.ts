import { z } from 'zod';
import { registryHost, secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { parseDockerConfigJson } from '../dockerconfig.js';
import { defineProvider, type Credential } from './types.js';

// `static`: a credential propagated as is. The source Secret holds either the keys `registry`,
// `username`, `password`, or a whole `.dockerconfigjson` (type kubernetes.io/dockerconfigjson), whose
// every `auths` entry is copied. An optional `expiresAt` key (RFC 3339) states when a static token
// expires (a deploy token or access token with an end date): regcred then reports the expiry in
// status and metrics and re-reads the source before it, instead of only every refresh.interval.

export const staticConfig = z.strictObject({
  secretRef,
  /** Overrides the Secret's `registry` key (ignored for a dockerconfigjson source). */
  registry: registryHost.optional(),
});
export type StaticConfig = z.infer<typeof staticConfig>;

export const staticProvider = defineProvider<StaticConfig>({
  key: 'static',
  configSchema: staticConfig,
  create(config, deps) {
    return {
      key: 'static',
      async mint(): Promise<Credential[]> {
        const src = await deps.sources.read(config.secretRef);
        const where = `Secret ${src.namespace}/${src.name}`;
        const expiresAt = parseExpiry(src.data['expiresAt'], where);
        const dockerConfig = src.data['.dockerconfigjson'];
        if (src.type === 'kubernetes.io/dockerconfigjson' || (dockerConfig !== undefined && src.data['password'] === undefined)) {
          if (dockerConfig === undefined) throw new RegcredError('InvalidSource', `${where} has no key ".dockerconfigjson"`);
          const entries = parseDockerConfigJson(dockerConfig, where);
          if (entries.length === 0) throw new RegcredError('InvalidSource', `${where}: ".dockerconfigjson" has no auths entries`);
          return expiresAt ? entries.map((e) => ({ ...e, expiresAt })) : entries;
        }
        const missing = ['username', 'password'].filter((k) => !src.data[k]);
        const registry = config.registry ?? src.data['registry'];
        if (!registry) missing.push('registry');
        if (missing.length > 0 || !registry) {
          throw new RegcredError(
            'InvalidSource',
            `${where} lacks key(s) ${missing.map((k) => `"${k}"`).join(', ')} (expected registry, username, password, or a .dockerconfigjson)`,
          );
        }
        registerSecret(src.data['password']);
        return [{ registry, username: src.data['username']!, password: src.data['password']!, ...(expiresAt ? { expiresAt } : {}) }];
      },
    };
  },
});

function parseExpiry(value: string | undefined, where: string): Date | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const ms = Date.parse(value.trim());
  if (!Number.isFinite(ms)) throw new RegcredError('InvalidSource', `${where}: key "expiresAt" is not an RFC 3339 time`);
  return new Date(ms);
}
