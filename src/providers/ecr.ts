import { z } from 'zod';
import type { AuthorizationData } from '@aws-sdk/client-ecr';
import { secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { defineProvider, type Credential, type ProviderDeps, type TenantSurface } from './types.js';

// `ecr`: Amazon ECR (private registries). One GetAuthorizationToken call per region; each returned
// authorizationData entry is one registry login (user `AWS`, a 12-hour token). AWS credentials come
// from the SDK's default chain (env vars, shared config, IMDS, ...) or from a source Secret holding
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, or from STS
// AssumeRoleWithWebIdentity with a service-account token regcred mints itself (TokenRequest);
// optionally followed by STS AssumeRole on top of those base credentials.
// ECR Public is its own provider (ecr-public.ts), reusing this file's schema parts and credential code.
// Not yet: Pod Identity.

export const awsRegion = z
  .string()
  .max(32)
  .regex(/^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$/, 'must be an AWS region such as "us-east-1"');

const roleArn = z
  .string()
  .max(2048)
  .regex(/^arn:aws[a-z-]*:iam::[0-9]{12}:role\/[A-Za-z0-9+=,.@_\/-]{1,512}$/, 'must be an IAM role ARN such as "arn:aws:iam::123456789012:role/name"');
const sessionName = z
  .string()
  .regex(/^[A-Za-z0-9+=,.@_-]{2,64}$/, 'must be 2-64 characters of letters, digits and +=,.@_-');
export const httpUrl = z
  .string()
  .max(2048)
  .regex(/^https?:\/\/[^\t\n\v\f\r ]+$/, 'must be an http(s) URL');

export const DEFAULT_SESSION_NAME = 'regcred';
export const DEFAULT_WEB_IDENTITY_AUDIENCE = 'sts.amazonaws.com';
/** Lifetime of the service-account token minted for AssumeRoleWithWebIdentity (used at once). */
const WEB_IDENTITY_TOKEN_SECONDS = 600;

/** How regcred gets AWS credentials (`auth` of `ecr` and `ecrPublic`); absent or `{}`: the SDK default chain. */
export const awsAuth = z
  .strictObject({
    /** A Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN. */
    secretRef: secretRef.optional(),
    /**
     * STS AssumeRoleWithWebIdentity with a service-account token regcred mints (TokenRequest API);
     * replaces the default chain / secretRef as the base credentials.
     */
    webIdentity: z
      .strictObject({
        roleArn,
        /** The token's audience; default "sts.amazonaws.com". */
        audience: z.string().min(1).max(256).optional(),
        /** The service account to mint the token for; namespace defaults like a source Secret's. */
        serviceAccount: secretRef,
        /** Default "regcred". */
        sessionName: sessionName.optional(),
      })
      .optional(),
    /** STS AssumeRole on top of the base credentials (default chain, secretRef or webIdentity). */
    assumeRole: z
      .strictObject({
        roleArn,
        externalId: z
          .string()
          .min(2)
          .max(1224)
          // No {2,1224} in the pattern: the CRD's pattern runs on Go's regexp, whose repeat limit is 1000.
          .regex(/^[A-Za-z0-9+=,.@:\/_-]+$/, 'must be letters, digits and +=,.@:/_-')
          .optional(),
        /** Default "regcred". */
        sessionName: sessionName.optional(),
        /** Lifetime of the assumed-role session, 900..43200 seconds (STS default: 3600). */
        durationSeconds: z.number().int().min(900).max(43200).optional(),
      })
      .optional(),
  })
  .refine((a) => a.secretRef === undefined || a.webIdentity === undefined, {
    message: 'auth: at most one of secretRef, webIdentity',
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: '!(has(self.secretRef) && has(self.webIdentity))', message: 'auth: at most one of secretRef, webIdentity' },
    ],
  });

export type AwsAuth = z.infer<typeof awsAuth>;

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

/** AWS credentials as the SDK takes them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The two STS calls, injectable like GetAuthorizationToken. Both return the temporary credentials. */
export interface StsCalls {
  assumeRole(input: {
    region: string;
    endpoint?: string | undefined;
    credentials?: AwsCredentials | undefined;
    roleArn: string;
    roleSessionName: string;
    externalId?: string | undefined;
    durationSeconds?: number | undefined;
    signal?: AbortSignal | undefined;
  }): Promise<AwsCredentials>;
  assumeRoleWithWebIdentity(input: {
    region: string;
    endpoint?: string | undefined;
    roleArn: string;
    roleSessionName: string;
    webIdentityToken: string;
    signal?: AbortSignal | undefined;
  }): Promise<AwsCredentials>;
}

function tempCredentials(
  res: { Credentials?: { AccessKeyId?: string | undefined; SecretAccessKey?: string | undefined; SessionToken?: string | undefined } | undefined },
  call: string,
): AwsCredentials {
  const c = res.Credentials;
  registerSecret(c?.SecretAccessKey);
  registerSecret(c?.SessionToken);
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
    throw Object.assign(new Error(`${call}: the response has no complete Credentials`), { name: 'InvalidStsResponse', $fault: 'server' });
  }
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

export const sdkSts: StsCalls = {
  async assumeRole(input) {
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const { STSClient, AssumeRoleCommand } = await import('@aws-sdk/client-sts');
    const client = new STSClient({
      region: input.region,
      ...(input.endpoint ? { endpoint: input.endpoint } : {}),
      ...(input.credentials ? { credentials: input.credentials } : {}),
      maxAttempts: 2,
    });
    try {
      const res = await client.send(
        new AssumeRoleCommand({
          RoleArn: input.roleArn,
          RoleSessionName: input.roleSessionName,
          ...(input.externalId !== undefined ? { ExternalId: input.externalId } : {}),
          ...(input.durationSeconds !== undefined ? { DurationSeconds: input.durationSeconds } : {}),
        }),
        input.signal ? { abortSignal: input.signal } : {},
      );
      return tempCredentials(res, 'AssumeRole');
    } finally {
      client.destroy();
    }
  },
  async assumeRoleWithWebIdentity(input) {
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const { STSClient, AssumeRoleWithWebIdentityCommand } = await import('@aws-sdk/client-sts');
    // AssumeRoleWithWebIdentity is an unsigned call: no base credentials are needed or used.
    const client = new STSClient({ region: input.region, ...(input.endpoint ? { endpoint: input.endpoint } : {}), maxAttempts: 2 });
    try {
      const res = await client.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: input.roleArn,
          RoleSessionName: input.roleSessionName,
          WebIdentityToken: input.webIdentityToken,
        }),
        input.signal ? { abortSignal: input.signal } : {},
      );
      return tempCredentials(res, 'AssumeRoleWithWebIdentity');
    } finally {
      client.destroy();
    }
  },
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
    async fetch(signal?: AbortSignal): Promise<Credential[]> {
      const credentials = await resolveCredentials(config, deps, sts, stsRegion, signal);
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

/**
 * Base credentials (default chain, secretRef or webIdentity), then AssumeRole on top if configured.
 * Shared with `ecrPublic` (ecr-public.ts); `provider` names the provider in error messages.
 */
export async function resolveCredentials(
  config: Pick<EcrConfig, 'auth' | 'stsEndpoint'>,
  deps: ProviderDeps,
  sts: StsCalls,
  region: string,
  signal: AbortSignal | undefined,
  provider = 'ecr',
): Promise<AwsCredentials | undefined> {
  const auth = config.auth;
  let base: AwsCredentials | undefined;
  if (auth?.webIdentity) {
    const wi = auth.webIdentity;
    if (!deps.tokenRequest) {
      throw new RegcredError('InvalidSource', `${provider} auth.webIdentity needs service-account tokens, which this run cannot mint (no Kubernetes access)`);
    }
    const token = await deps.tokenRequest(wi.serviceAccount, [wi.audience ?? DEFAULT_WEB_IDENTITY_AUDIENCE], WEB_IDENTITY_TOKEN_SECONDS);
    registerSecret(token);
    try {
      base = await sts.assumeRoleWithWebIdentity({
        region,
        endpoint: config.stsEndpoint,
        roleArn: wi.roleArn,
        roleSessionName: wi.sessionName ?? DEFAULT_SESSION_NAME,
        webIdentityToken: token,
        signal,
      });
    } catch (err) {
      throw classify(err, region, 'sts:AssumeRoleWithWebIdentity', provider);
    }
  } else if (auth?.secretRef) {
    base = await readKeys(auth.secretRef, deps);
  } else {
    // The default chain reads these itself; register them so no message can echo them.
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) registerSecret(process.env[k]);
  }
  if (!auth?.assumeRole) return base;
  const ar = auth.assumeRole;
  try {
    return await sts.assumeRole({
      region,
      endpoint: config.stsEndpoint,
      credentials: base,
      roleArn: ar.roleArn,
      roleSessionName: ar.sessionName ?? DEFAULT_SESSION_NAME,
      externalId: ar.externalId,
      durationSeconds: ar.durationSeconds,
      signal,
    });
  } catch (err) {
    throw classify(err, region, 'sts:AssumeRole', provider);
  }
}

/** AWS's public API hosts (commercial and China partitions): the default allowlist of ecr and ecrPublic. */
export const AWS_HOSTS = ['*.amazonaws.com', '*.amazonaws.com.cn'];

/** The default chain is the controller's own identity (IRSA, Pod Identity, IMDS): unless secretRef or webIdentity is the base. */
export function awsSurface(c: { auth?: AwsAuth | undefined; endpoint?: string | undefined; stsEndpoint?: string | undefined }): TenantSurface {
  const own = !c.auth?.secretRef && !c.auth?.webIdentity;
  return {
    ambient: own ? { path: ['auth'], what: "the AWS SDK's default credential chain (the controller's own IAM role)" } : undefined,
    urls: [
      ...(c.endpoint ? [{ path: ['endpoint'], url: c.endpoint }] : []),
      ...(c.stsEndpoint ? [{ path: ['stsEndpoint'], url: c.stsEndpoint }] : []),
    ],
  };
}

export const ecrProvider = defineProvider<EcrConfig>({
  key: 'ecr',
  configSchema: ecrConfig,
  defaultHosts: AWS_HOSTS,
  tenantSurface: (c) => awsSurface(c),
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
export function classify(err: unknown, region: string, call = 'GetAuthorizationToken', provider = 'ecr'): RegcredError {
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
  return new RegcredError('ProviderError', `${provider} ${call} in ${region}: ${label}`, retryable, { cause: err });
}
