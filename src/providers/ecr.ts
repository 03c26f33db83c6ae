import { z } from 'zod';
import type { AuthorizationData } from '@aws-sdk/client-ecr';
import { secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `ecr`: Amazon ECR (private registries). One GetAuthorizationToken call per region; each returned
// authorizationData entry is one registry login (user `AWS`, a 12-hour token). AWS credentials come
// from the SDK's default chain (env vars, shared config, IMDS, ...) or from a source Secret holding
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN.
// Not yet: assumeRole, webIdentity, Pod Identity, ECR Public.

const awsRegion = z
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
    endpoint: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\t\n\v\f\r ]+$/, 'must be an http(s) URL')
      .optional(),
    /** How regcred gets AWS credentials; absent or `{}`: the SDK default chain. */
    auth: z
      .strictObject({
        /** A Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN. */
        secretRef: secretRef.optional(),
      })
      .optional(),
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
}) => Promise<{ authorizationData?: AuthorizationData[] | undefined }>;

export const sdkGetAuthorizationToken: GetAuthorizationToken = async (input) => {
  // regcred supports Node 20; the SDK's notice that later SDK versions need Node 22 would otherwise
  // land on every run's stderr. A user who sets the variable keeps their choice.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  // Loaded on first use: most runs never touch AWS, and the SDK is most of the bundle's start-up.
  const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
  const client = new ECRClient({
    region: input.region,
    ...(input.endpoint ? { endpoint: input.endpoint } : {}),
    ...(input.credentials ? { credentials: input.credentials } : {}),
    maxAttempts: 2, // the controller retries with its own backoff
  });
  try {
    return await client.send(
      new GetAuthorizationTokenCommand(input.registryIds ? { registryIds: input.registryIds } : {}),
      input.signal ? { abortSignal: input.signal } : {},
    );
  } finally {
    client.destroy();
  }
};

const ECR_TOKEN_LIFETIME_MS = 12 * 3600_000;

export function createEcrProvider(config: EcrConfig, deps: ProviderDeps, call: GetAuthorizationToken = sdkGetAuthorizationToken) {
  const regions = config.regions ?? (config.region ? [config.region] : []);
  return {
    key: 'ecr',
    async fetch(signal?: AbortSignal): Promise<Credential[]> {
      const credentials = config.auth?.secretRef ? await readKeys(config.auth.secretRef, deps) : undefined;
      if (!credentials) {
        // The default chain reads these itself; register them so no message can echo them.
        for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) registerSecret(process.env[k]);
      }
      const perRegion = await Promise.all(
        regions.map(async (region) => {
          let res;
          try {
            res = await call({ region, endpoint: config.endpoint, credentials, registryIds: config.registryIds, signal });
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
  create: (config, deps) => createEcrProvider(config, deps),
});

async function readKeys(ref: { namespace?: string | undefined; name: string }, deps: ProviderDeps) {
  const src = await deps.sources.read(ref);
  const where = `Secret ${src.namespace}/${src.name}`;
  const accessKeyId = src.data['AWS_ACCESS_KEY_ID']?.trim();
  const secretAccessKey = src.data['AWS_SECRET_ACCESS_KEY']?.trim();
  const sessionToken = src.data['AWS_SESSION_TOKEN']?.trim();
  registerSecret(accessKeyId);
  registerSecret(secretAccessKey);
  registerSecret(sessionToken);
  const missing = [accessKeyId ? undefined : 'AWS_ACCESS_KEY_ID', secretAccessKey ? undefined : 'AWS_SECRET_ACCESS_KEY'].filter(
    (k): k is string => k !== undefined,
  );
  if (missing.length > 0 || !accessKeyId || !secretAccessKey) {
    throw new RegcredError(
      'InvalidSource',
      `${where} lacks key(s) ${missing.map((k) => `"${k}"`).join(', ')} (expected AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN)`,
    );
  }
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

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

/** Error names that mean the credentials or permissions are wrong: retrying cannot help. */
const AUTH_ERRORS = /^(UnrecognizedClient|InvalidSignature|SignatureDoesNotMatch|InvalidClientTokenId|AccessDenied|ExpiredToken|MissingAuthenticationToken|IncompleteSignature|CredentialsProviderError|NotAuthorized|AuthFailure)/;
const THROTTLING = /Throttl|TooManyRequests|RequestLimitExceeded|SlowDown|LimitExceeded/;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

/** Turns an SDK error into a RegcredError naming the provider, region and call; never a secret. */
export function classify(err: unknown, region: string): RegcredError {
  const e = (err ?? {}) as {
    name?: string;
    message?: string;
    code?: string;
    $fault?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = (typeof e.message === 'string' && e.message.trim() ? e.message.trim() : name).split('\n')[0]!.slice(0, 300);
  let retryable: boolean;
  if (AUTH_ERRORS.test(name) || status === 401 || status === 403) retryable = false;
  else if (THROTTLING.test(name) || status === 429 || (status !== undefined && status >= 500) || e.$fault === 'server' || e.$retryable) retryable = true;
  else if (status === undefined && (NETWORK_CODES.has(e.code ?? '') || /Timeout|Network|socket|ECONN|EAI_AGAIN/i.test(`${name} ${detail}`))) retryable = true;
  else retryable = false;
  const label = detail.startsWith(name) ? detail : `${name}: ${detail}`;
  return new RegcredError('ProviderError', `ecr GetAuthorizationToken in ${region}: ${label}`, retryable, { cause: err });
}
