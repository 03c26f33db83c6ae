import { readFileSync } from 'node:fs';
import { kubeClient, type ClusterSource } from '../kube/api/client.js';
import type { Logger } from '../log.js';
import type { EventRecorder } from '../kube/events.js';
import { createTokenMinter } from '../kube/sources.js';
import { ChainguardCompat } from '../controller/chainguard-compat.js';
import { exchangeChainguardToken, DEFAULT_CHAINGUARD_ISSUER, DEFAULT_SERVICE_ACCOUNT } from '../providers/chainguard.js';
import type { ControllerCommandOptions } from './controller.js';

// `regcred controller --chainguard-compat`: the compatibility mode's set-up from the flags.

/** A repeatable flag whose values may also be comma-separated. */
export function listFlag(values: readonly string[] | undefined): string[] {
  return [...new Set((values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))];
}

/** The service account this process runs as, from its in-cluster token; undefined outside a Pod. */
function ownServiceAccount(): { namespace: string; name: string } | undefined {
  try {
    const token = readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8');
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: string };
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub ?? '');
    return m ? { namespace: m[1]!, name: m[2]! } : undefined;
  } catch {
    return undefined;
  }
}

export function chainguardCompat(kubeConfig: ClusterSource, opts: ControllerCommandOptions, log: Logger, events: EventRecorder): ChainguardCompat {
  const given = opts.chainguardServiceAccount?.split('/');
  const serviceAccount =
    given && given.length === 2
      ? { namespace: given[0]!, name: given[1]! }
      : given?.length === 1
        ? { namespace: opts.namespace, name: given[0]! }
        : (ownServiceAccount() ?? { namespace: opts.namespace, name: DEFAULT_SERVICE_ACCOUNT });
  // The minter may mint for that one service account's namespace only.
  const tokenRequest = createTokenMinter(kubeClient(kubeConfig).core, {
    defaultNamespace: serviceAccount.namespace,
    allowedNamespace: serviceAccount.namespace,
    rule: 'chainguard compatibility mode mints tokens for its configured service account only',
  });
  const issuer = opts.chainguardIssuer ?? DEFAULT_CHAINGUARD_ISSUER;
  const identities = listFlag(opts.chainguardCompatIdentities);
  const namespaces = listFlag(opts.chainguardCompatNamespaces);
  log.info({ issuer, serviceAccount: `${serviceAccount.namespace}/${serviceAccount.name}`, identities, namespaces: namespaces.length ? namespaces : 'all' }, 'chainguard compatibility mode enabled');
  return new ChainguardCompat({
    kubeConfig,
    log,
    events,
    identities,
    namespaces,
    mint: (identity) =>
      exchangeChainguardToken({ identity, issuer, serviceAccount }, { tokenRequest, fetch: globalThis.fetch, now: () => new Date(), log }),
  });
}
