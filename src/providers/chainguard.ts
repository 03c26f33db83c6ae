import { z } from 'zod';
import { secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { httpUrl, registryHostname } from './internal/schema.js';
import { callTokenEndpoint, DEFAULT_SERVICE_ACCOUNT, SA_TOKEN_SECONDS, tokenExpiry } from './internal/token.js';
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
export { DEFAULT_SERVICE_ACCOUNT, SA_TOKEN_SECONDS };

/** A Chainguard UIDP: hexadecimal segments separated by "/", the organization's first, e.g. "<org id>/<identity id>". */
export const chainguardIdentity = z
  .string()
  .max(700)
  .regex(/^[0-9a-f]{1,64}(\/[0-9a-f]{1,64}){1,10}$/, 'must be an identity UIDP as printed by `chainctl iam identities create`, such as "0123abcd.../89ef..."');

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
  deps: Pick<ProviderDeps, 'tokenRequest' | 'fetch' | 'network' | 'now' | 'log'>,
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
    what: `chainguard STS exchange for identity ${opts.identity} (${origin})`,
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
    async mint(signal?: AbortSignal): Promise<Credential[]> {
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
