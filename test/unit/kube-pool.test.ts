// The shared keep-alive agent against node-fetch 2, client-node's HTTP client: with more requests
// than sockets, Node 20's keep-alive agent handed a socket to the next request before node-fetch had
// seen the previous chunked response close, and node-fetch failed that response ("Premature close",
// 196 of 200 here). The Node release regcred runs on (hack/node-release.env) no longer does: a plain
// agent delivers every response whole, so src/kube/pool.ts's deferred hand-over is no longer needed
// for this. Both must deliver every response whole.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { Agent, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { DeferredReleaseAgent } from '../../src/kube/pool.js';
import { generateCa, issueServingCert } from '../../src/webhook/certs.js';

type NodeFetch = (url: string, init: { agent: Agent }) => Promise<{ json(): Promise<unknown> }>;
const fetch = createRequire(import.meta.url)('node-fetch') as NodeFetch;

async function run(agent: Agent, port: number, n: number): Promise<{ ok: number; premature: number; other: string[] }> {
  const out = { ok: 0, premature: 0, other: [] as string[] };
  await Promise.all(
    Array.from({ length: n }, async () => {
      try {
        const res = await fetch(`https://127.0.0.1:${port}/`, { agent });
        // client-node reads the body a little later (its middleware runs first): the window.
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        await res.json();
        out.ok++;
      } catch (err) {
        if (/Premature close/.test(String(err))) out.premature++;
        else out.other.push(String(err));
      }
    }),
  );
  return out;
}

test('chunked responses through a saturated pool: none fails, with the deferred hand-over or without', async () => {
  const now = new Date();
  const ca = generateCa({ commonName: 'pool-test', now, validityMs: 3600_000 });
  const cert = issueServingCert(ca, { hosts: ['127.0.0.1'], now, validityMs: 3600_000 });
  // Like the API server answering a larger object: no Content-Length, so chunked.
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', message: 'x'.repeat(20_000) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const options = { ca: ca.certPem, keepAlive: true, maxSockets: 4, scheduling: 'lifo' as const };
  try {
    const plain = await run(new Agent(options), port, 200);
    const deferred = await run(new DeferredReleaseAgent(options), port, 200);
    console.log(`[pool] plain keep-alive agent: ${plain.premature}/200 "Premature close"; deferred hand-over: ${deferred.premature}/200`);
    assert.deepEqual(deferred, { ok: 200, premature: 0, other: [] });
    assert.deepEqual(plain, { ok: 200, premature: 0, other: [] }, 'a plain keep-alive agent fails chunked responses again on this Node release: keep the deferred hand-over');
  } finally {
    server.close();
    server.closeAllConnections();
  }
});
