// The webhook's HTTPS server under abuse: bodies over the limit are refused (413) without being
// read into memory, requests past the in-flight cap or the shared byte budget are answered 429,
// a slow sender 408; each refusal is counted, and a normal review still gets its answer.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'node:https';
import { generateCa, issueServingCert } from '../../src/webhook/certs.js';
import { MAX_BODY_BYTES, startWebhookServer, type AdmissionResult, type PodAdmissionBackend, type WebhookServer, type WebhookServerOptions } from '../../src/webhook/server.js';
import type { CertificateSource } from '../../src/webhook/tls.js';
import { capturingLogger } from '../harness/provider-tests.js';
import { postToWebhook, type WebhookAnswer } from '../harness/webhook-post.js';

const now = new Date();
const ca = generateCa({ commonName: 'test-ca', now, validityMs: 3600_000 });
const serving = issueServingCert(ca, { hosts: ['127.0.0.1'], now, validityMs: 3600_000 });
const certificates: CertificateSource = {
  start: async () => undefined,
  current: () => ({ certPem: serving.certPem, keyPem: serving.keyPem }),
  onChange: () => undefined,
  stop: async () => undefined,
};

const candidate = { key: 'ClusterRegistryCredential/r', secretName: 'r-pull', registries: ['registry.example'] };
let gate: Promise<void> = Promise.resolve();
const backend: PodAdmissionBackend = {
  candidatesFor: async () => {
    await gate;
    return { candidates: [candidate] };
  },
  ensureSecret: async () => 'exists',
};

// Keep-alive, as the API server's client: a refused upload is then drained, not cut off.
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
const results: AdmissionResult[] = [];
const servers: WebhookServer[] = [];
async function serve(extra: Partial<WebhookServerOptions> = {}): Promise<number> {
  const s = await startWebhookServer({ host: '127.0.0.1', port: 0, certificates, backend, log: capturingLogger([]), onAdmission: (r) => results.push(r), ...extra });
  servers.push(s);
  return s.port;
}

function review(uid = 'u1'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { kind: 'Pod' }, namespace: 'ns', operation: 'CREATE', object: { metadata: { name: 'p' }, spec: { containers: [{ image: 'registry.example/app' }] } } },
  });
}

/** POSTs `body` (default: a review), or the chunks written `gapMs` apart. */
function post(port: number, opts: { body?: string | Buffer; chunks?: Buffer[]; gapMs?: number; headers?: Record<string, string | number> } = {}): Promise<WebhookAnswer> {
  return postToWebhook(port, agent, opts.chunks ? opts : { ...opts, body: opts.body ?? review() });
}

before(() => {
  results.length = 0;
});

after(async () => {
  agent.destroy();
  for (const s of servers) await s.close();
});

test('the body limit is the API server\'s 3 MiB plus room for the review', () => {
  assert.ok(MAX_BODY_BYTES > 3 * 1024 * 1024 && MAX_BODY_BYTES <= 4 * 1024 * 1024, `${MAX_BODY_BYTES}`);
});

test('a normal review is answered with the patch', async () => {
  const port = await serve();
  const r = await post(port);
  assert.equal(r.status, 200);
  const answer = JSON.parse(r.body) as { response: { uid: string; patchType?: string } };
  assert.equal(answer.response.uid, 'u1');
  assert.equal(answer.response.patchType, 'JSONPatch');
});

test('a declared length over the limit: 413 at once, the body never read into memory', async () => {
  const port = await serve();
  results.length = 0;
  const before = process.memoryUsage();
  const r = await post(port, { body: Buffer.alloc(4 * 1024 * 1024, 0x61) });
  assert.equal(r.status, 413);
  assert.deepEqual(results, ['too_large']);
  const grown = process.memoryUsage().heapUsed - before.heapUsed;
  assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${grown} bytes`);
});

test('a chunked body (no declared length) past the limit: 413 as soon as it crosses it', async () => {
  const port = await serve({ maxBodyBytes: 64 * 1024 });
  results.length = 0;
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  const r = await post(port, { chunks: Array.from({ length: 40 }, () => chunk) });
  assert.equal(r.status, 413);
  assert.deepEqual(results, ['too_large']);
  // The server still answers afterwards.
  assert.equal((await post(port)).status, 200);
});

test('past the in-flight cap: 429 with Retry-After; served again once requests finish', async () => {
  const port = await serve({ maxInFlight: 2 });
  results.length = 0;
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  const slow = [post(port, { body: review('a') }), post(port, { body: review('b') })];
  await new Promise((r) => setTimeout(r, 200));
  const refused = await post(port, { body: review('c') });
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['retry-after'], '1');
  open();
  gate = Promise.resolve();
  assert.deepEqual((await Promise.all(slow)).map((s) => s.status), [200, 200]);
  assert.equal((await post(port)).status, 200);
  assert.deepEqual(results.sort(), ['patched', 'patched', 'patched', 'throttled']);
});

test('the shared byte budget: a second large body while the first is held is answered 429', async () => {
  const port = await serve({ maxBufferedBytes: 96 * 1024 });
  results.length = 0;
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  // A valid review padded to 64 KiB: held in memory until answered.
  const padded = (uid: string) => JSON.stringify({ ...(JSON.parse(review(uid)) as object), pad: 'x'.repeat(64 * 1024) });
  const first = post(port, { body: padded('a') });
  await new Promise((r) => setTimeout(r, 200));
  const second = await post(port, { body: padded('b') });
  assert.equal(second.status, 429);
  open();
  gate = Promise.resolve();
  assert.equal((await first).status, 200);
  assert.equal((await post(port, { body: padded('c') })).status, 200, 'the budget is given back');
});

test('a sender too slow to finish within the read timeout: 408, and its slot is freed', async () => {
  const port = await serve({ readTimeoutMs: 300, maxInFlight: 1 });
  results.length = 0;
  const r = await post(port, { chunks: Array.from({ length: 20 }, () => Buffer.from(' ')), gapMs: 100 });
  assert.equal(r.status, 408);
  assert.deepEqual(results, ['timeout']);
  assert.equal((await post(port)).status, 200);
});

test('a client that disconnects mid-body frees its slot at once, nothing counted', async () => {
  const port = await serve({ maxInFlight: 1 });
  results.length = 0;
  const req = request({ host: '127.0.0.1', port, path: '/mutate-v1-pod', method: 'POST', rejectUnauthorized: false, agent: false, headers: { 'Content-Length': 1000 } });
  req.on('error', () => undefined);
  req.write('{"partial":');
  await new Promise((r) => setTimeout(r, 200));
  req.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  assert.equal((await post(port)).status, 200);
  assert.ok(Date.now() - t0 < 2000);
  assert.deepEqual(results, ['patched']);
});

test('other paths and methods: 404, nothing counted', async () => {
  const port = await serve();
  results.length = 0;
  const r = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/other', method: 'GET', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
  assert.equal(r, 404);
  assert.deepEqual(results, []);
});
