// The floor for "new namespace → Secret": a client that writes a pull Secret into each namespace the
// moment it appears, and does nothing else. Run as its own process, like the controller:
//
//   node dist/bench/raw-follower.js '<json options>'
//
// It reads the source Secret, lists the namespaces of the selector, then watches them from the
// list's resourceVersion and POSTs the Secret into each one ADDED. It prints "ready" once the watch
// is open and runs until it is stopped (SIGTERM).

import { request } from 'node:https';
import { callJson, connect, dockerConfigJson, q, type SecretLike } from './kubeapi.js';

export interface FollowerOptions {
  server: string;
  dir: string;
  secretName: string;
  namespaceSelector: string;
  sourceNamespace: string;
  sourceName: string;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as FollowerOptions;
  const api = connect(opts.server, opts.dir, 16);
  const source = await callJson<SecretLike>(api, 'GET', `/api/v1/namespaces/${q(opts.sourceNamespace)}/secrets/${q(opts.sourceName)}`);
  const field = (k: string) => Buffer.from(source.json.data?.[k] ?? '', 'base64').toString('utf8');
  const data = { '.dockerconfigjson': Buffer.from(dockerConfigJson(field('registry'), field('username'), field('password'))).toString('base64') };
  const list = await callJson<{ metadata: { resourceVersion: string } }>(api, 'GET', `/api/v1/namespaces?labelSelector=${q(opts.namespaceSelector)}&limit=1`);

  const write = (namespace: string) =>
    callJson(api, 'POST', `/api/v1/namespaces/${q(namespace)}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: opts.secretName, namespace }, type: 'kubernetes.io/dockerconfigjson', data }, [409]).catch(
      (err: unknown) => process.stderr.write(`raw-follower: ${namespace}: ${err instanceof Error ? err.message : String(err)}\n`),
    );

  const path = `/api/v1/namespaces?watch=true&labelSelector=${q(opts.namespaceSelector)}&resourceVersion=${q(list.json.metadata.resourceVersion)}`;
  const req = request(`${opts.server}${path}`, { agent: api.agent, headers: { accept: 'application/json' } }, (res) => {
    if (res.statusCode !== 200) throw new Error(`watch: HTTP ${res.statusCode}`);
    process.stdout.write('ready\n');
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const event = JSON.parse(pending.slice(0, nl)) as { type: string; object: { metadata: { name: string } } };
        pending = pending.slice(nl + 1);
        if (event.type === 'ADDED') void write(event.object.metadata.name);
      }
    });
  });
  req.on('error', (err) => {
    process.stderr.write(`raw-follower: watch: ${err.message}\n`);
    process.exitCode = 1;
  });
  req.end();
  process.on('SIGTERM', () => {
    api.agent.destroy();
    process.exit(0);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`raw-follower: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
