import { z } from 'zod';
import type { AuthorizationData } from '@aws-sdk/client-ecr';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import type { NetworkPolicy } from './internal/address-policy.js';
import {
  AWS_HOSTS,
  awsAuth,
  awsClientConfig,
  awsSurface,
  awsEndpoint,
  checkEndpoint,
  classify,
  resolveCredentials,
  sdkSts,
  sendOnce,
  type AwsCredentials,
  type StsCalls,
} from './internal/aws.js';
import { httpUrl } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';
import { commonJsExports } from '../util/commonjs.js';

export { awsAuth, classify, DEFAULT_SESSION_NAME, DEFAULT_WEB_IDENTITY_AUDIENCE, resolveCredentials, sdkSts, type AwsCredentials, type StsCalls } from './internal/aws.js';
export { httpUrl };

// `ecr`: Amazon ECR (private registries). One GetAuthorizationToken call per region; each returned
// authorizationData entry is one registry login (user `AWS`, a 12-hour token). AWS credentials come
// from the SDK's default chain (env vars, shared config, IMDS, ...) or from a source Secret holding
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, or from STS
// AssumeRoleWithWebIdentity with a service-account token regcred mints itself (TokenRequest);
// optionally followed by STS AssumeRole on top of those base credentials.
// ECR Public is its own provider (ecr-public.ts); what both use is in internal/aws.ts.
// SDK clients get connection and socket timeouts, a deadline per call, and with a network policy
// the guarded agents (internal/guarded-net.ts); the endpoints are checked against the policy first.
// Not yet: Pod Identity.

export const awsRegion = z
  .string()
  .max(32)
  .regex(/^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$/, 'must be an AWS region such as "us-east-1"');

export const ecrConfig = z
  .strictObject({
    /** One region. Exactly one of `region`, `regions`. */
    region: awsRegion.optional(),
    /** Several regions: one GetAuthorizationToken call (and one or more registries) per region. */
    regions: z.array(awsRegion).min(1).max(32).optional(),
    /** Registries (AWS account ids) to log in to; default: the caller's own account. */
    registryIds: z
      .array(z.string().regex(/^[0-9]{12}$/, 'must be a 12-digit AWS account id'))
      .min(1)
      .max(10)
      .optional(),
    /** Overrides the ECR API endpoint (a VPC endpoint, or a fake for tests). */
    endpoint: httpUrl.optional(),
    /** Overrides the STS API endpoint used by `auth.assumeRole` / `auth.webIdentity` (a VPC endpoint, or a fake for tests). */
    stsEndpoint: httpUrl.optional(),
    /** How regcred gets AWS credentials; absent or `{}`: the SDK default chain. */
    auth: awsAuth.optional(),
  })
  .refine((c) => (c.region === undefined) !== (c.regions === undefined), {
    message: 'needs exactly one of region, regions',
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: 'has(self.region) != has(self.regions)', message: 'needs exactly one of region, regions' },
    ],
  });
export type EcrConfig = z.infer<typeof ecrConfig>;

/** What the provider needs of the SDK: one call. Tests inject a fake to check error classification. */
export type GetAuthorizationToken = (input: {
  region: string;
  endpoint?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  registryIds?: string[] | undefined;
  signal?: AbortSignal | undefined;
  network?: NetworkPolicy | undefined;
}) => Promise<{ authorizationData?: AuthorizationData[] | undefined }>;

export const sdkGetAuthorizationToken: GetAuthorizationToken = async (input) => {
  // Loaded on first use: most runs never touch AWS, and the SDK is most of the bundle's start-up.
  const { ECRClient, GetAuthorizationTokenCommand } = commonJsExports(await import('@aws-sdk/client-ecr'));
  const client = new ECRClient(awsClientConfig(input));
  return sendOnce(client, input.signal, (abortSignal) => client.send(new GetAuthorizationTokenCommand(input.registryIds ? { registryIds: input.registryIds } : {}), { abortSignal }));
};


const ECR_TOKEN_LIFETIME_MS = 12 * 3600_000;

export function createEcrProvider(
  config: EcrConfig,
  deps: ProviderDeps,
  call: GetAuthorizationToken = sdkGetAuthorizationToken,
  sts: StsCalls = sdkSts,
) {
  const regions = config.regions ?? (config.region ? [config.region] : []);
  // STS is global with regional endpoints: call it in the (first) region the credential uses.
  const stsRegion = regions[0] ?? 'us-east-1';
  return {
    key: 'ecr',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      for (const region of regions) checkEndpoint(deps.network, awsEndpoint(config.endpoint, 'api.ecr', region), `ecr GetAuthorizationToken in ${region}`);
      const credentials = await resolveCredentials(config, deps, sts, stsRegion, signal);
      const perRegion = await Promise.all(
        regions.map(async (region) => {
          let res;
          try {
            res = await call({ region, endpoint: config.endpoint, credentials, registryIds: config.registryIds, signal, network: deps.network });
          } catch (err) {
            throw classify(err, region);
          }
          return toCredentials(res.authorizationData ?? [], region, deps);
        }),
      );
      return perRegion.flat();
    },
  };
}


export const ecrProvider = defineProvider<EcrConfig>({
  key: 'ecr',
  configSchema: ecrConfig,
  defaultHosts: AWS_HOSTS,
  tenantSurface: (c) => awsSurface(c),
  create: (config, deps) => createEcrProvider(config, deps),
});


function toCredentials(entries: AuthorizationData[], region: string, deps: ProviderDeps): Credential[] {
  const where = `ecr GetAuthorizationToken in ${region}`;
  if (entries.length === 0) throw new RegcredError('ProviderError', `${where}: the response has no authorizationData`, true);
  return entries.map((entry, i) => {
    if (!entry.authorizationToken || !entry.proxyEndpoint) {
      throw new RegcredError('ProviderError', `${where}: authorizationData[${i}] lacks authorizationToken or proxyEndpoint`, true);
    }
    const decoded = Buffer.from(entry.authorizationToken, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new RegcredError('ProviderError', `${where}: authorizationData[${i}] token is not "user:password"`);
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    registerSecret(password);
    registerSecret(entry.authorizationToken);
    const registry = entry.proxyEndpoint.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    // ECR always states the expiry; should it not, assume its documented 12 hours.
    const expiresAt = entry.expiresAt ? new Date(entry.expiresAt) : new Date(deps.now().getTime() + ECR_TOKEN_LIFETIME_MS);
    return { registry, username, password, expiresAt };
  });
}

