// The floor of "new namespace → Secret": the same measurement (namespaces created one at a time,
// each until its Secret is seen by a watch) with bench/raw-follower.ts writing the Secrets instead
// of the controller. Both pay the API server's own wait for a namespace its admission cache has not
// seen yet (NamespaceLifecycle waits 50 ms before it looks again), which a write made within
// milliseconds of the namespace's creation sometimes meets.

import { spawn } from 'node:child_process';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ControlPlane } from '../../test/harness/controlplane.js';
import { RAW_FOLLOWER } from '../fanout/settings.js';
import type { FollowerOptions } from '../raw-follower.js';
import { percentile, SecretObserver } from './observe.js';

const SECRET_NAME = 'floor-follow-pull';
const LABELS = { 'floor-follow': 'yes' };

export async function newNamespaceFloor(cp: ControlPlane, core: CoreV1Api, count: number, password: string, source: { namespace: string; name: string }): Promise<{ p50: number; p99: number; max: number; observed: number }> {
  const opts: FollowerOptions = { server: cp.server, dir: cp.dir, secretName: SECRET_NAME, namespaceSelector: 'floor-follow=yes', sourceNamespace: source.namespace, sourceName: source.name };
  const follower = spawn(process.execPath, [RAW_FOLLOWER, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const observer = new SecretObserver(cp.kubeConfig, SECRET_NAME);
  try {
    await new Promise<void>((resolve, reject) => {
      follower.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      follower.on('exit', (code) => reject(new Error(`raw follower exited (${code})`)));
    });
    await observer.start();
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const name = `floor-late-${i}`;
      const t = Date.now();
      await core.createNamespace({ body: { metadata: { name, labels: LABELS } } });
      const got = await observer.allHold([name], password, 10_000);
      if (got) latencies.push(got - t);
    }
    latencies.sort((x, y) => x - y);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, observed: latencies.length };
  } finally {
    observer.stop();
    follower.kill('SIGTERM');
  }
}
