import { z } from 'zod';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import type { NetworkPolicy } from './internal/address-policy.js';
import { AWS_HOSTS, awsAuth, awsClientConfig, awsSurface, awsEndpoint, checkEndpoint, classify, resolveCredentials, sdkSts, sendOnce, type AwsCredentials, type StsCalls } from './internal/aws.js';
import { httpUrl } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';
import { commonJsExports } from '../util/commonjs.js';

// `ecrPublic`: Amazon ECR Public (public.ecr.aws). Logging in raises pull rate limits over anonymous
// pulls. One GetAuthorizationToken call of the ECR Public API, which exists only in us-east-1; its
// token is for the registry `public.ecr.aws`, user `AWS`. AWS credentials are resolved exactly like
// the `ecr` provider's (ecr.ts: default chain, auth.secretRef, auth.webIdentity, auth.assumeRole).
// API: https://docs.aws.amazon.com/AmazonECRPublic/latest/APIReference/API_GetAuthorizationToken.html

export const ECR_PUBLIC_REGISTRY = 'public.ecr.aws';
/** The ECR Public API (and so its STS calls here) lives in us-east-1 only. */
export const ECR_PUBLIC_REGION = 'us-east-1';
const ECR_PUBLIC_TOKEN_LIFETIME_MS = 12 * 3600_000;

export const ecrPublicConfig = z.strictObject({
  /** Overrides the ECR Public API endpoint (a fake for tests). */
  endpoint: httpUrl.optional(),
  /** Overrides the STS API endpoint used by `auth.assumeRole` / `auth.webIdentity`. */
  stsEndpoint: httpUrl.optional(),
  /** How regcred gets AWS credentials, as for `ecr`; absent or `{}`: the SDK default chain. */
  auth: awsAuth.optional(),
});
export type EcrPublicConfig = z.infer<typeof ecrPublicConfig>;

/** The one SDK call, injectable for tests. */
export type GetPublicAuthorizationToken = (input: {
  region: string;
  endpoint?: string | undefined;
  credentials?: AwsCredentials | undefined;
  signal?: AbortSignal | undefined;
  network?: NetworkPolicy | undefined;
}) => Promise<{ authorizationData?: { authorizationToken?: string | undefined; expiresAt?: Date | undefined } | undefined }>;

export const sdkGetPublicAuthorizationToken: GetPublicAuthorizationToken = async (input) => {
  // Loaded on first use, like the ECR SDK in ecr.ts.
  const { ECRPUBLICClient, GetAuthorizationTokenCommand } = commonJsExports(await import('@aws-sdk/client-ecr-public'));
  const client = new ECRPUBLICClient(awsClientConfig(input));
  return sendOnce(client, input.signal, (abortSignal) => client.send(new GetAuthorizationTokenCommand({}), { abortSignal }));
};

export function createEcrPublicProvider(
  config: EcrPublicConfig,
  deps: ProviderDeps,
  call: GetPublicAuthorizationToken = sdkGetPublicAuthorizationToken,
  sts: StsCalls = sdkSts,
) {
  const region = ECR_PUBLIC_REGION;
  return {
    key: 'ecrPublic',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      checkEndpoint(deps.network, awsEndpoint(config.endpoint, 'api.ecr-public', region), `ecrPublic GetAuthorizationToken in ${region}`);
      const credentials = await resolveCredentials(config, deps, sts, region, signal, 'ecrPublic');
      let res;
      try {
        res = await call({ region, endpoint: config.endpoint, credentials, signal, network: deps.network });
      } catch (err) {
        throw classify(err, region, 'GetAuthorizationToken', 'ecrPublic');
      }
      return [toCredential(res.authorizationData, deps)];
    },
  };
}

function toCredential(
  data: { authorizationToken?: string | undefined; expiresAt?: Date | undefined } | undefined,
  deps: ProviderDeps,
): Credential {
  const where = `ecrPublic GetAuthorizationToken in ${ECR_PUBLIC_REGION}`;
  if (!data?.authorizationToken) throw new RegcredError('ProviderError', `${where}: the response has no authorizationData.authorizationToken`, true);
  registerSecret(data.authorizationToken);
  const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new RegcredError('ProviderError', `${where}: the token is not "user:password"`);
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  registerSecret(password);
  const expiresAt = data.expiresAt ? new Date(data.expiresAt) : new Date(deps.now().getTime() + ECR_PUBLIC_TOKEN_LIFETIME_MS);
  return { registry: ECR_PUBLIC_REGISTRY, username, password, expiresAt };
}

export const ecrPublicProvider = defineProvider<EcrPublicConfig>({
  key: 'ecrPublic',
  configSchema: ecrPublicConfig,
  defaultHosts: AWS_HOSTS,
  tenantSurface: (c) => awsSurface(c),
  create: (config, deps) => createEcrPublicProvider(config, deps),
});
