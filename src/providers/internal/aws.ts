import { z } from 'zod';
import { secretRef } from '../../config/common.js';
import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import type { ProviderDeps, TenantSurface } from '../types.js';
import { deadline } from './abort.js';
import { classify } from './aws-errors.js';
import { hostAllowed, type NetworkPolicy } from './address-policy.js';
import { createPolicyAgents } from './guarded-net.js';
import { DEFAULT_TIMEOUT_MS } from './http.js';
import { commonJsExports } from '../../util/commonjs.js';

// What the AWS providers (ecr, ecrPublic) share: the `auth` schema, resolving base credentials and
// STS on top, the SDK clients' request handler (timeouts; the network policy's agents), the
// endpoint check against the policy, and the classification of SDK errors.

const roleArn = z
  .string()
  .max(2048)
  .regex(/^arn:aws[a-z-]*:iam::[0-9]{12}:role\/[A-Za-z0-9+=,.@_\/-]{1,512}$/, 'must be an IAM role ARN such as "arn:aws:iam::123456789012:role/name"');
const sessionName = z
  .string()
  .regex(/^[A-Za-z0-9+=,.@_-]{2,64}$/, 'must be 2-64 characters of letters, digits and +=,.@_-');

export const DEFAULT_SESSION_NAME = 'regcred';
export const DEFAULT_WEB_IDENTITY_AUDIENCE = 'sts.amazonaws.com';
/** Lifetime of the service-account token minted for AssumeRoleWithWebIdentity (used at once). */
const WEB_IDENTITY_TOKEN_SECONDS = 600;

/** How regcred gets AWS credentials (`auth` of `ecr` and `ecrPublic`); absent or `{}`: the SDK default chain. */
export type AwsAuth = z.infer<typeof awsAuth>;

/** AWS's public API hosts (commercial and China partitions): the default allowlist of ecr and ecrPublic. */
export const AWS_HOSTS = ['*.amazonaws.com', '*.amazonaws.com.cn'];

/** The default chain is the controller's own identity (IRSA, Pod Identity, IMDS): unless secretRef or webIdentity is the base. */
export function awsSurface(c: { auth?: AwsAuth | undefined; endpoint?: string | undefined; stsEndpoint?: string | undefined }): TenantSurface {
  const own = !c.auth?.secretRef && !c.auth?.webIdentity;
  return {
    ambient: own ? { path: ['auth'], what: "the AWS SDK's default credential chain (the controller's own IAM role)" } : undefined,
    urls: [...(c.endpoint ? [{ path: ['endpoint'], url: c.endpoint }] : []), ...(c.stsEndpoint ? [{ path: ['stsEndpoint'], url: c.stsEndpoint }] : [])],
  };
}
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

/** Connecting gives up after this long; so does a socket silent for SDK_SOCKET_TIMEOUT_MS. */
export const SDK_CONNECTION_TIMEOUT_MS = 5_000;
export const SDK_SOCKET_TIMEOUT_MS = 20_000;
/** One SDK call, retries included (a ref'd timer aborting the call). */
export const SDK_CALL_TIMEOUT_MS = DEFAULT_TIMEOUT_MS;

/**
 * What every AWS SDK client of regcred gets: one retry inside the SDK (the controller retries with
 * its own backoff), connection and socket timeouts (the SDK's default requestTimeout is none),
 * and with a network policy the guarded agents, so the connected address is checked.
 */
/**
 * The settings of every AWS client regcred makes: region, endpoint override, credentials (absent: the
 * SDK's default chain), retries, timeouts, and the network policy's agents.
 */
export function awsClientConfig(input: { region: string; endpoint?: string | undefined; credentials?: AwsCredentials | undefined; network?: NetworkPolicy | undefined }) {
  return {
    region: input.region,
    ...(input.endpoint ? { endpoint: input.endpoint } : {}),
    ...(input.credentials ? { credentials: input.credentials } : {}),
    ...awsClientOptions(input.network),
  };
}

/** One call of a client made for it: under the SDK call deadline and the caller's signal; the client is destroyed after. */
export async function sendOnce<R>(client: { destroy(): void }, signal: AbortSignal | undefined, send: (abortSignal: AbortSignal) => Promise<R>): Promise<R> {
  const d = deadline(SDK_CALL_TIMEOUT_MS, signal);
  try {
    return await send(d.signal);
  } finally {
    d.clear();
    client.destroy();
  }
}

export function awsClientOptions(network: NetworkPolicy | undefined) {
  return {
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: SDK_CONNECTION_TIMEOUT_MS,
      requestTimeout: SDK_SOCKET_TIMEOUT_MS,
      ...(network ? createPolicyAgents(network) : {}),
    },
  };
}

/** The endpoint the SDK calls: the override, else AWS's regional default. */
export function awsEndpoint(override: string | undefined, service: string, region: string): string {
  return override ?? `https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** Refuses an endpoint whose host the policy does not allow (HostNotAllowed), before the SDK connects. */
export function checkEndpoint(network: NetworkPolicy | undefined, endpoint: string, what: string): void {
  if (!network) return;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new RegcredError('InvalidSpec', `${what}: the endpoint is not a URL`);
  }
  if (!hostAllowed(network, url)) throw new RegcredError('HostNotAllowed', `${what}: host ${url.host} is not allowed by the network policy`);
}

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
    network?: NetworkPolicy | undefined;
  }): Promise<AwsCredentials>;
  assumeRoleWithWebIdentity(input: {
    region: string;
    endpoint?: string | undefined;
    roleArn: string;
    roleSessionName: string;
    webIdentityToken: string;
    signal?: AbortSignal | undefined;
    network?: NetworkPolicy | undefined;
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
    const { STSClient, AssumeRoleCommand } = commonJsExports(await import('@aws-sdk/client-sts'));
    const client = new STSClient(awsClientConfig(input));
    const res = await sendOnce(client, input.signal, (abortSignal) =>
      client.send(
        new AssumeRoleCommand({
          RoleArn: input.roleArn,
          RoleSessionName: input.roleSessionName,
          ...(input.externalId !== undefined ? { ExternalId: input.externalId } : {}),
          ...(input.durationSeconds !== undefined ? { DurationSeconds: input.durationSeconds } : {}),
        }),
        { abortSignal },
      ),
    );
    return tempCredentials(res, 'AssumeRole');
  },
  async assumeRoleWithWebIdentity(input) {
    const { STSClient, AssumeRoleWithWebIdentityCommand } = commonJsExports(await import('@aws-sdk/client-sts'));
    // AssumeRoleWithWebIdentity is an unsigned call: no base credentials are needed or used.
    const client = new STSClient(awsClientConfig({ region: input.region, endpoint: input.endpoint, network: input.network }));
    const res = await sendOnce(client, input.signal, (abortSignal) =>
      client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: input.roleArn, RoleSessionName: input.roleSessionName, WebIdentityToken: input.webIdentityToken }), { abortSignal }),
    );
    return tempCredentials(res, 'AssumeRoleWithWebIdentity');
  },
};

/**
 * Base credentials (default chain, secretRef or webIdentity), then AssumeRole on top if configured.
 * Shared with `ecrPublic` (ecr-public.ts); `provider` names the provider in error messages.
 */
export async function resolveCredentials(
  config: { auth?: AwsAuth | undefined; stsEndpoint?: string | undefined },
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
    checkEndpoint(deps.network, awsEndpoint(config.stsEndpoint, 'sts', region), `${provider} sts:AssumeRoleWithWebIdentity in ${region}`);
    try {
      base = await sts.assumeRoleWithWebIdentity({
        region,
        endpoint: config.stsEndpoint,
        network: deps.network,
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
  checkEndpoint(deps.network, awsEndpoint(config.stsEndpoint, 'sts', region), `${provider} sts:AssumeRole in ${region}`);
  try {
    return await sts.assumeRole({
      region,
      endpoint: config.stsEndpoint,
      network: deps.network,
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

export { classify };
