// External Secrets Operator on the same scenarios, on its own control plane: its first fan-out into
// the namespaces, a new namespace, a source edit, and its memory. Where it does not get there within
// the wait, the result is "never" (null), with the wait and the setting that decides it.
import { CoreV1Api } from '@kubernetes/client-node';
import type { ControlPlane } from '../../test/harness/controlplane.js';
import { mapWithConcurrency } from '../../src/util/pool.js';
import { createClusterExternalSecret, createKubernetesStore, esoBinary, esoRssMB, installEsoCrds, startEso } from '../eso/eso.js';
import { percentile, SecretObserver } from './observe.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`[scale/eso] ${s}`);

export interface EsoScaleResult {
  version: string;
  namespaces: number;
  /** ClusterExternalSecret created → every namespace holds the Secret (null: not within the wait). */
  firstFanOutSeconds: number | null;
  rssMB: number;
  newNamespaceSeconds: { p50: number; max: number; observed: number; of: number; waitSeconds: number; refreshTime: string };
  /** Source edited → every copy updated (null: never within the wait). */
  sourceEditSeconds: number | null;
  sourceEditWaitSeconds: number;
  refreshInterval: string;
}

export async function runEsoScale(cp: ControlPlane, namespaces: number, opts: { newNamespaces: number; editWaitSeconds: number }): Promise<EsoScaleResult> {
  const binary = esoBinary();
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  const put = (password: string, create = false) => {
    const body = { metadata: { name: 'scale-src' }, stringData: { registry: 'scale.example', username: 'u', password } };
    return create ? core.createNamespacedSecret({ namespace: 'regcred-system', body }) : core.replaceNamespacedSecret({ namespace: 'regcred-system', name: 'scale-src', body });
  };
  await put('pw-0', true);
  await installEsoCrds(cp, binary);
  const eso = startEso(cp, binary);
  const observer = new SecretObserver(cp.kubeConfig, 'eso-pull');
  try {
    await createKubernetesStore(cp, 'regcred-source', 'regcred-system');
    const names = Array.from({ length: namespaces }, (_, i) => `eso-${i}`);
    await mapWithConcurrency(names, 32, (name) => core.createNamespace({ body: { metadata: { name, labels: { eso: 'yes' } } } }));
    await observer.start();
    await sleep(5_000);
    const refreshInterval = '1h';
    const refreshTime = '1m';
    const t0 = Date.now();
    await createClusterExternalSecret(cp, { name: 'eso-pull', store: 'regcred-source', source: 'scale-src', secretName: 'eso-pull', selector: { eso: 'yes' }, refreshInterval, refreshTime });
    const done = await observer.allHold(names, 'pw-0', 900_000);
    const firstFanOutSeconds = done ? +((done - t0) / 1000).toFixed(2) : null;
    log(`first fan-out into ${namespaces} namespaces: ${firstFanOutSeconds ?? 'not within 900'} s`);
    await sleep(5_000);
    const rssMB = +esoRssMB(eso).toFixed(1);

    const waits: number[] = [];
    const waitSeconds = 120;
    for (let i = 0; i < opts.newNamespaces; i++) {
      const name = `eso-late-${i}`;
      const t = Date.now();
      await core.createNamespace({ body: { metadata: { name, labels: { eso: 'yes' } } } });
      const got = await observer.allHold([name], 'pw-0', waitSeconds * 1000);
      if (got) waits.push((got - t) / 1000);
    }
    waits.sort((a, b) => a - b);
    const newNamespaceSeconds = { p50: +percentile(waits, 50).toFixed(2), max: +(waits.at(-1) ?? NaN).toFixed(2), observed: waits.length, of: opts.newNamespaces, waitSeconds, refreshTime };
    log(`new namespace → Secret: p50 ${newNamespaceSeconds.p50} s (${waits.length}/${opts.newNamespaces} within ${waitSeconds} s)`);

    const tEdit = Date.now();
    await put('pw-edited');
    const edited = await observer.allHold(names, 'pw-edited', opts.editWaitSeconds * 1000);
    const sourceEditSeconds = edited ? +((edited - tEdit) / 1000).toFixed(2) : null;
    log(`source edit → every copy: ${sourceEditSeconds ?? `never within ${opts.editWaitSeconds} s (refreshInterval ${refreshInterval})`}`);
    return { version: binary.split('/').at(-2) ?? '', namespaces, firstFanOutSeconds, rssMB, newNamespaceSeconds, sourceEditSeconds, sourceEditWaitSeconds: opts.editWaitSeconds, refreshInterval };
  } finally {
    observer.stop();
    await eso.stop();
  }
}
