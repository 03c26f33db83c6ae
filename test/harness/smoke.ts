// Starts the control plane, prints how long it took and what it serves, and stops it.
import { CoreV1Api } from '@kubernetes/client-node';
import { start } from './controlplane.js';

const t0 = Date.now();
const cp = await start();
console.log(`control plane ready in ${Date.now() - t0} ms at ${cp.server}`);
const core = cp.kubeConfig.makeApiClient(CoreV1Api);
const ns = await core.listNamespace();
console.log('namespaces:', ns.items.map((n) => n.metadata?.name).join(', '));
await cp.stop();
