import { z } from 'zod';
import { secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { httpUrl, registryHostname } from './internal/schema.js';
import { callTokenEndpoint, DEFAULT_SERVICE_ACCOUNT, SA_TOKEN_SECONDS, tokenExpiry } from './internal/token.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `quay`: Quay (quay.io or a Red Hat Quay / Project Quay installation, 3.13 or later) with robot
// account federation ("keyless authentication with robot accounts"): no long-lived robot token.
// https://docs.redhat.com/en/documentation/red_hat_quay/3/html/manage_red_hat_quay/keyless-authentication-robot-accounts
// https://docs.projectquay.io/manage_quay.html#setting-robot-federation
//  1. regcred mints a token for a Kubernetes service account with the TokenRequest API;
//  2. `GET {baseUrl}/oauth2/federation/robot/token` with HTTP Basic `<org>+<robot>:<that token>`
//     answers {"token": "..."} (Quay API reference "Auth Federated Robot Token";
//     quay/quay endpoints/oauth/robot_identity_federation.py). Quay checks the token against the
//     robot's federation configuration: the issuer's JWKS (the cluster's service-account issuer must
//     be reachable by Quay), the issuer and subject (`system:serviceaccount:<ns>:<name>`), and the
//     audiences when the configuration lists them (util/security/federated_robot_auth.py);
//  3. the robot token is the password of the robot's own name, for an hour: regcred reads the
//     expiry from the token's JWT `exp`, or assumes an hour when it carries none.
// external-secrets' QuayAccessToken generator makes the same call (pkg/generator/quay/quay.go).

export const DEFAULT_QUAY_BASE_URL = 'https://quay.io';

/** `<namespace>+<shortname>`: Quay's namespace (user or organization) and robot name rules. */
export const quayRobot = z
  .string()
  .max(512)
  .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*\+[a-z][a-z0-9_]{1,254}$/, 'must be a robot account name "<organization>+<robot>", such as "myorg+puller"');

export const quayConfig = z.strictObject({
  /** The federated robot account, "<organization or user>+<robot>": the user name of the call and of the login. */
  robot: quayRobot,
  /** The Quay installation; default https://quay.io. */
  baseUrl: httpUrl.optional(),
  /** The registry (the `auths` key); default the host of baseUrl. */
  registry: registryHostname.optional(),
  /** The service account whose token is exchanged; default {name: regcred}, namespace defaulting like a source Secret's. */
  serviceAccount: secretRef.optional(),
  /** The service-account token's audience, as the robot's federation lists it; default the host of baseUrl. */
  audience: z.string().min(1).max(512).optional(),
});
export type QuayConfig = z.infer<typeof quayConfig>;

export function createQuayProvider(config: QuayConfig, deps: ProviderDeps) {
  const base = (config.baseUrl ?? DEFAULT_QUAY_BASE_URL).replace(/\/+$/, '');
  const host = new URL(base).host;
  const registry = config.registry ?? host;
  const audience = config.audience ?? host;
  const serviceAccount = config.serviceAccount ?? { name: DEFAULT_SERVICE_ACCOUNT };
  return {
    key: 'quay',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      if (!deps.tokenRequest) {
        throw new RegcredError('InvalidSource', 'quay needs service-account tokens, which this run cannot mint (no Kubernetes access)');
      }
      const saToken = await deps.tokenRequest(serviceAccount, [audience], SA_TOKEN_SECONDS);
      registerSecret(saToken);
      const basic = Buffer.from(`${config.robot}:${saToken}`).toString('base64');
      registerSecret(basic);
      const token = await callTokenEndpoint(deps, {
        what: `quay robot federation for ${config.robot} (${new URL(base).origin})`,
        url: `${base}/oauth2/federation/robot/token`,
        method: 'GET',
        headers: { authorization: `Basic ${basic}` },
        refusedHint: 'is the robot federated with this service account’s issuer and subject?',
        signal,
      });
      return [{ registry, username: config.robot, password: token, expiresAt: tokenExpiry(token, deps, 'quay') }];
    },
  };
}

export const quayProvider = defineProvider<QuayConfig>({
  key: 'quay',
  configSchema: quayConfig,
  defaultHosts: [new URL(DEFAULT_QUAY_BASE_URL).host],
  tenantSurface: (c) => ({ urls: c.baseUrl ? [{ path: ['baseUrl'], url: c.baseUrl }] : [] }),
  create: (config, deps) => createQuayProvider(config, deps),
});
