import { z } from 'zod';
import { secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { claims } from './acr.js';
import { httpUrl } from './ecr.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `chainguard`: the Chainguard Registry (cgr.dev) with an assumable identity, no long-lived pull token.
// https://edu.chainguard.dev/chainguard/administration/assumable-ids/assumable-ids/
//  1. regcred mints a token for a Kubernetes service account with the TokenRequest API; its audience
//     is the Chainguard issuer (default https://issuer.enforce.dev), as the identity expects;
//  2. `POST {issuer}/sts/exchange?aud=<registry>&identity=<identity UIDP>` with
//     `Authorization: Bearer <that token>` answers {"token": "<JWT>"}: Chainguard checks the token's
//     signature against the cluster's keys, its issuer and subject against the identity's
//     (`chainctl iam identities create --identity-issuer --subject`), and that the identity exists.
//     The query form is the one Chainguard's own examples use (curl in the assumable-identity
//     guides, the cgr.dev keychain example); chainguard-dev/sdk's sts package sends the same fields
//     (aud, identity) as JSON to the same path in its HTTP/1.1 mode;
//  3. the registry token is the password of user `_token`
//     (https://edu.chainguard.dev/chainguard/chainguard-images/registry/authenticating/), valid
//     until the JWT's `exp` (an hour).
// This replaces chainguard-dev's experimental pull-secret-updater, which wrote the dockerconfigjson
// `auth` field base64-encoded twice; regcred's Secret writer (dockerconfig.ts) encodes it once.
// `exchangeChainguardToken` is the whole exchange for one identity, for the controller's
// `--chainguard-compat` mode (Secrets annotated pull-secret-updater.chainguard.dev/identity).

export const DEFAULT_CHAINGUARD_ISSUER = 'https://issuer.enforce.dev';
export const DEFAULT_CHAINGUARD_REGISTRY = 'cgr.dev';
/** The user name Chainguard's registry expects with an exchanged token as password. */
export const CHAINGUARD_USERNAME = '_token';
/** The service account whose token is exchanged when none is set: regcred's own (the Helm chart's name). */
export const DEFAULT_SERVICE_ACCOUNT = 'regcred';
/** Lifetime of the service-account token (used at once; TokenRequest's minimum). */
export const SA_TOKEN_SECONDS = 600;
/** Assumed lifetime of an exchanged token whose JWT carries no `exp` (Chainguard's tokens live an hour). */
const DEFAULT_TOKEN_LIFETIME_MS = 3600_000;
/** Each HTTP call gives up after this long: plain fetch has no timeout of its own. */
export const TOKEN_CALL_TIMEOUT_MS = 30_000;

/** A Chainguard UIDP: hexadecimal segments separated by "/", the organization's first, e.g. "<org id>/<identity id>". */
export const chainguardIdentity = z
  .string()
  .max(700)
  .regex(/^[0-9a-f]{1,64}(\/[0-9a-f]{1,64}){1,10}$/, 'must be an identity UIDP as printed by `chainctl iam identities create`, such as "0123abcd.../89ef..."');

/** A bare registry host, optional port: the `auths` key and the exchange's `aud`. */
export const registryHostname = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/, 'must be a registry host such as "cgr.dev" (no scheme or path)');

export const chainguardConfig = z.strictObject({
  /** The assumable identity's UIDP, printed by `chainctl iam identities create` (the old controller's annotation value). */
  identity: chainguardIdentity,
  /** The Chainguard issuer (its /sts/exchange is called); default https://issuer.enforce.dev. */
  issuer: httpUrl.optional(),
  /** The service account whose token is exchanged; default {name: regcred}, namespace defaulting like a source Secret's. */
  serviceAccount: secretRef.optional(),
  /** The service-account token's audience; default the issuer URL. */
  audience: z.string().min(1).max(512).optional(),
  /** The registry: the `auths` key written and the exchange's `aud`; default cgr.dev. */
  registry: registryHostname.optional(),
});
export type ChainguardConfig = z.infer<typeof chainguardConfig>;

/** What one exchange needs; everything but the identity has a default. */
export interface ChainguardExchange {
  identity: string;
  issuer?: string | undefined;
  audience?: string | undefined;
  registry?: string | undefined;
  serviceAccount?: { namespace?: string | undefined; name: string } | undefined;
}

/**
 * Mints a service-account token and exchanges it at Chainguard's STS for a registry token: the
 * Credential to write (registry, `_token`, the token, its `exp`). Throws RegcredError.
 */
export async function exchangeChainguardToken(
  opts: ChainguardExchange,
  deps: Pick<ProviderDeps, 'tokenRequest' | 'fetch' | 'now' | 'log'>,
  signal?: AbortSignal,
): Promise<Credential> {
  const issuer = (opts.issuer ?? DEFAULT_CHAINGUARD_ISSUER).replace(/\/+$/, '');
  let origin: string;
  try {
    origin = new URL(issuer).origin;
  } catch {
    throw new RegcredError('InvalidSpec', `chainguard: issuer ${JSON.stringify(issuer)} is not a URL`);
  }
  const registry = opts.registry ?? DEFAULT_CHAINGUARD_REGISTRY;
  const audience = opts.audience ?? issuer;
  const serviceAccount = opts.serviceAccount ?? { name: DEFAULT_SERVICE_ACCOUNT };
  if (!deps.tokenRequest) {
    throw new RegcredError('InvalidSource', 'chainguard needs service-account tokens, which this run cannot mint (no Kubernetes access)');
  }
  const saToken = await deps.tokenRequest(serviceAccount, [audience], SA_TOKEN_SECONDS);
  registerSecret(saToken);
  const url = `${issuer}/sts/exchange?${new URLSearchParams({ aud: registry, identity: opts.identity }).toString()}`;
  const token = await callTokenEndpoint(deps, {
    where: `chainguard STS exchange for identity ${opts.identity} (${origin})`,
    url,
    method: 'POST',
    headers: { authorization: `Bearer ${saToken}` },
    refusedHint: 'does the identity trust this service account’s issuer and subject, with the registry.pull role?',
    signal,
  });
  return { registry, username: CHAINGUARD_USERNAME, password: token, expiresAt: tokenExpiry(token, deps, 'chainguard') };
}

export function createChainguardProvider(config: ChainguardConfig, deps: ProviderDeps) {
  return {
    key: 'chainguard',
    async fetch(signal?: AbortSignal): Promise<Credential[]> {
      return [await exchangeChainguardToken(config, deps, signal)];
    },
  };
}

export const chainguardProvider = defineProvider<ChainguardConfig>({
  key: 'chainguard',
  configSchema: chainguardConfig,
  defaultHosts: [new URL(DEFAULT_CHAINGUARD_ISSUER).host],
  tenantSurface: (c) => ({ urls: c.issuer ? [{ path: ['issuer'], url: c.issuer }] : [] }),
  create: (config, deps) => createChainguardProvider(config, deps),
});

// ---------------------------------------------------------------------------------------------
// Shared with quay.ts: one HTTP call answered by {"token": "..."}, and the token's expiry.

export interface TokenCall {
  /** Names the provider and the call in errors, e.g. "chainguard STS exchange for identity X (https://issuer.enforce.dev)". */
  where: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Added to 401/403 errors: what the user should check. */
  refusedHint: string;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/** Calls a token endpoint answering {"token": "..."}; registers and returns the token. */
export async function callTokenEndpoint(deps: Pick<ProviderDeps, 'fetch'>, call: TokenCall): Promise<string> {
  const timeoutMs = call.timeoutMs ?? TOKEN_CALL_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await deps.fetch(call.url, { method: call.method, headers: { accept: 'application/json', ...call.headers }, signal });
    text = await res.text();
  } catch (err) {
    if (timeout.aborted) throw new RegcredError('ProviderError', `${call.where}: timed out after ${timeoutMs / 1000} s`, true, { cause: err });
    throw networkError(err, call.where);
  }
  if (!res.ok) throw httpError(res.status, text, call.where, call.refusedHint);
  let token: unknown;
  try {
    token = (JSON.parse(text) as { token?: unknown } | null)?.token;
  } catch {
    throw new RegcredError('ProviderError', `${call.where}: the answer is not JSON (HTTP ${res.status})`, true);
  }
  if (typeof token !== 'string' || token === '') throw new RegcredError('ProviderError', `${call.where}: the answer has no "token"`, true);
  registerSecret(token);
  return token;
}

/** The token's expiry: its JWT `exp`; lacking one, now + 1 hour and a warning. */
export function tokenExpiry(token: string, deps: Pick<ProviderDeps, 'now' | 'log'>, provider: string): Date {
  const exp = claims(token)?.['exp'];
  if (typeof exp === 'number' && Number.isFinite(exp) && exp > 0) return new Date(exp * 1000);
  deps.log.warn(`${provider}: the registry token states no expiry (not a JWT with "exp"); assuming 1 hour`);
  return new Date(deps.now().getTime() + DEFAULT_TOKEN_LIFETIME_MS);
}

function oneLine(text: string, max = 300): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** A fetch that threw: the network, or the caller's abort. Retryable. */
function networkError(err: unknown, where: string): RegcredError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return new RegcredError('ProviderError', `${where}: aborted`, true, { cause: err });
  const detail = oneLine([e?.message, e?.cause?.code ?? e?.cause?.message].filter(Boolean).join(': ') || 'request failed');
  return new RegcredError('ProviderError', `${where}: ${detail}`, true, { cause: err });
}

/**
 * An error answer. Chainguard answers in gRPC-gateway JSON ({"code": 16, "message": "..."}), Quay
 * with {"error": "..."}; both texts are surfaced (first line; never a token: they describe why a
 * token was refused, and every printed line is scrubbed anyway). 408, 429 and 5xx are retryable;
 * other statuses (bad or unauthorized token, unknown identity or robot, no permission) are permanent.
 */
export function httpError(status: number, body: string, where: string, refusedHint: string): RegcredError {
  let detail = '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown; message?: unknown } | null;
    detail = [parsed?.error, parsed?.error_description, parsed?.message].filter((x): x is string => typeof x === 'string' && x !== '').join(': ');
  } catch {
    // Plain text is kept; an HTML error page (a proxy's) says nothing useful.
    detail = body.trimStart().startsWith('<') ? '' : body;
  }
  detail = oneLine(detail);
  const retryable = status === 408 || status === 429 || status >= 500;
  const hint = status === 401 || status === 403 ? ` (${refusedHint})` : '';
  return new RegcredError('ProviderError', `${where}: HTTP ${status}${detail ? ` ${detail}` : ''}${hint}`, retryable);
}
