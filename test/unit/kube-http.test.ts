// Unit tests for src/kube/api/http.ts, the transport, against a local HTTPS server: what goes on
// the wire, error shapes, deadlines, a saturated pool, watches. The API verbs themselves are
// tested against a real API server (test/integration/kube-client.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/api/client.js';
import type { KubeConfigLike, UserInfo } from '../../src/kube/api/config.js';
import { KubeApiError } from '../../src/kube/api/http.js';
import { apiMessage, apiReason, isRetryableApiError, retryAfterMs, statusCode } from '../../src/kube/client.js';
import { generateCa, issueServingCert } from '../../src/webhook/certs.js';
import { FakeClock } from '../../src/util/clock.js';
import { settle } from './async-helpers.js';

/** Waits (event-loop turns, no timers) until `check` holds. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check());
}

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let port: number;
let caPem: string;
let handler: Handler = (_req, _body, res) => res.end('{}');
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];

before(async () => {
  const now = new Date();
  const ca = generateCa({ commonName: 'kube-http-test', now, validityMs: 3600_000 });
  const cert = issueServingCert(ca, { hosts: ['127.0.0.1'], now, validityMs: 3600_000 });
  caPem = ca.certPem;
  server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

function config(user: UserInfo = { token: 'tok' }, cluster: { caData?: string; skipTLSVerify?: boolean; server?: string } = {}): KubeConfigLike {
  const c = { server: cluster.server ?? `https://127.0.0.1:${port}`, caData: cluster.caData ?? Buffer.from(caPem).toString('base64'), skipTLSVerify: cluster.skipTLSVerify ?? false };
  return { getCurrentCluster: () => c, getCurrentUser: () => user, getCurrentContext: () => 'x' };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

describe('KubeHttp requests', () => {
  test('JSON in and out: path under the server prefix, query, headers, patch content types', async () => {
    seen.length = 0;
    handler = (req, body, res) => json(res, req.method === 'POST' ? 201 : 200, { echo: body ? JSON.parse(body) : null });
    const kube = new KubeClient(config({ token: 'tok', impersonateUser: 'bob' }, { server: `https://127.0.0.1:${port}/prefix/` }));
    const created = await kube.core.createNamespacedSecret({ namespace: 'a b', body: { metadata: { name: 'n' } }, fieldManager: 'regcred' });
    assert.deepEqual(created, { echo: { metadata: { name: 'n' } } });
    await kube.core.patchNamespacedSecret({ namespace: 'ns', name: 'n', body: [{ op: 'add', path: '/x', value: 1 }] });
    await kube.events.patchNamespacedEvent({ namespace: 'ns', name: 'e', body: { series: { count: 2, lastObservedTime: 't' } } });
    await kube.core.listSecretForAllNamespaces({ labelSelector: 'a=b', fieldSelector: 'metadata.name=x', limit: 5, _continue: 'tok/en' });
    const [create, patch, merge, list] = seen;
    assert.equal(create?.url, '/prefix/api/v1/namespaces/a%20b/secrets?fieldManager=regcred');
    assert.equal(create?.headers['authorization'], 'Bearer tok');
    assert.equal(create?.headers['impersonate-user'], 'bob');
    assert.equal(create?.headers['content-type'], 'application/json');
    assert.equal(create?.headers['accept'], 'application/json');
    assert.equal(patch?.headers['content-type'], 'application/json-patch+json');
    assert.equal(merge?.headers['content-type'], 'application/merge-patch+json');
    assert.equal(list?.url, '/prefix/api/v1/secrets?limit=5&continue=tok%2Fen&labelSelector=a%3Db&fieldSelector=metadata.name%3Dx');
    assert.equal(list?.body, '', 'no body on a GET');
    kube.close();
  });

  test('a list page: its continue token is also under _continue', async () => {
    handler = (_req, _body, res) => json(res, 200, { items: [], metadata: { resourceVersion: '7', continue: 'next' } });
    const kube = new KubeClient(config());
    const page = await kube.core.listNamespace({ limit: 1 });
    assert.equal(page.metadata?._continue, 'next');
    kube.close();
  });

  test('an answer other than 2xx is a KubeApiError: code, Status body, headers (Retry-After)', async () => {
    handler = (_req, _body, res) => json(res, 429, { kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'slow down' }, { 'retry-after': '2' });
    const kube = new KubeClient(config());
    const err = await kube.core.readNamespace({ name: 'x' }).catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.statusCode, 429);
    assert.equal(statusCode(err), 429);
    assert.equal(apiMessage(err), 'slow down');
    assert.equal(apiReason(err), 'TooManyRequests');
    assert.equal(retryAfterMs(err), 2000);
    assert.equal(isRetryableApiError(err), true);
    assert.equal(err.message, 'HTTP 429: slow down');
    handler = (_req, _body, res) => {
      res.writeHead(502);
      res.end('<html>bad gateway</html>');
    };
    const html = await kube.core.readNamespace({ name: 'x' }).catch((e: unknown) => e);
    assert.equal(statusCode(html), 502);
    assert.equal(apiMessage(html), 'HTTP 502');
    assert.equal((html as KubeApiError).body, '<html>bad gateway</html>');
    kube.close();
  });

  test('a 401 reads the credentials again for the next request (a rotated token file)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'regcred-http-'));
    const file = join(d, 'token');
    writeFileSync(file, 'old');
    handler = (req, _body, res) => (req.headers['authorization'] === 'Bearer new' ? json(res, 200, {}) : json(res, 401, { kind: 'Status', code: 401, message: 'Unauthorized' }));
    const kube = new KubeClient(config({ tokenFile: file }));
    await assert.rejects(kube.core.readNamespace({ name: 'x' }), (e: unknown) => statusCode(e) === 401);
    writeFileSync(file, 'new');
    assert.deepEqual(await kube.core.readNamespace({ name: 'x' }), {});
    kube.close();
  });

  test('a request the server never answers fails at its deadline, as a network error (retryable)', async () => {
    handler = () => undefined; // never answers
    const kube = new KubeClient(config(), { timeoutMs: 50 });
    const err = await kube.core.readNamespace({ name: 'x' }).catch((e: unknown) => e);
    assert.match(String(err), /did not answer within 50 ms/);
    assert.equal(statusCode(err), undefined);
    assert.equal(isRetryableApiError(err), true);
    const aborted = new AbortController();
    const pending = kube.http.request({ method: 'GET', path: '/x', signal: aborted.signal, timeoutMs: 10_000 });
    aborted.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    kube.close();
  });

  test('TLS: the server is verified against the kubeconfig CA, unless insecure-skip-tls-verify', async () => {
    handler = (_req, _body, res) => json(res, 200, { ok: true });
    const other = generateCa({ commonName: 'someone-else', now: new Date(), validityMs: 3600_000 });
    const wrongCa = new KubeClient(config({}, { caData: Buffer.from(other.certPem).toString('base64') }));
    await assert.rejects(wrongCa.core.readNamespace({ name: 'x' }), /certificate/);
    const insecure = new KubeClient(config({}, { caData: Buffer.from(other.certPem).toString('base64'), skipTLSVerify: true }));
    assert.deepEqual(await insecure.core.readNamespace({ name: 'x' }), { ok: true });
    wrongCa.close();
    insecure.close();
  });

  test('more requests than connections: every chunked response arrives whole, on at most maxSockets connections', async () => {
    const payload = { items: Array.from({ length: 200 }, (_, i) => ({ metadata: { name: `n${i}` } })) };
    const sockets = new Set<unknown>();
    handler = (req, _body, res) => {
      sockets.add(req.socket);
      res.writeHead(200, { 'content-type': 'application/json' }); // no Content-Length: chunked
      const text = JSON.stringify(payload);
      res.write(text.slice(0, 100));
      setImmediate(() => res.end(text.slice(100)));
    };
    const kube = new KubeClient(config(), { maxSockets: 4 });
    const results = await Promise.all(Array.from({ length: 200 }, () => kube.core.listNamespace()));
    assert.ok(results.every((r) => r.items.length === 200));
    assert.ok(sockets.size <= 4, `${sockets.size} connections`);
    kube.close();
  });

  test('idle connections close after the idle time; a slow answer on a busy one is not cut', async () => {
    const closed: unknown[] = [];
    const opened = new Set<unknown>();
    handler = (req, _body, res) => {
      if (!opened.has(req.socket)) {
        opened.add(req.socket);
        req.socket.on('close', () => closed.push(req.socket));
      }
      const wait = req.url?.includes('slow') ? 300 : 0;
      setTimeout(() => json(res, 200, {}), wait);
    };
    const kube = new KubeClient(config(), { maxSockets: 8, idleConnectionMs: 100 });
    await Promise.all(Array.from({ length: 6 }, () => kube.core.readNamespace({ name: 'slow' })));
    assert.equal(opened.size, 6, 'a busy request took 300 ms, three times the idle time, and was answered');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(closed.length, 6, 'every idle connection closed');
    await kube.core.readNamespace({ name: 'a' });
    assert.equal(opened.size, 7, 'the next request opens a new one');
    kube.close();
  });

  test('every request waits for the rate limit', async () => {
    handler = (_req, _body, res) => json(res, 200, {});
    const clock = new FakeClock(0);
    const kube = new KubeClient(config(), { rateLimit: { qps: 1, burst: 2 }, clock });
    seen.length = 0;
    await Promise.all([kube.core.readNamespace({ name: 'a' }), kube.core.readNamespace({ name: 'b' })]);
    const third = kube.core.readNamespace({ name: 'c' });
    await settle();
    assert.equal(seen.length, 2, 'the burst went at once; the third waits for a token');
    await clock.advance(1000);
    await third;
    assert.equal(seen.length, 3);
    kube.close();
  });
});

describe('KubeHttp watches', () => {
  test('events split anywhere across chunks (multi-byte characters too) arrive whole, in order; the end of the stream ends the watch', async () => {
    const events = [
      { type: 'ADDED', object: { metadata: { name: 'é-one', resourceVersion: '1' } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '2' } } },
      { type: 'MODIFIED', object: { metadata: { name: 'two', resourceVersion: '3' } } },
    ];
    seen.length = 0;
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const bytes = Buffer.from(events.map((e) => JSON.stringify(e) + '\n').join('') + 'not json\n');
      let i = 0;
      const step = () => {
        if (i >= bytes.length) return res.end();
        res.write(bytes.subarray(i, i + 7)); // cuts through "é" too
        i += 7;
        setImmediate(step);
      };
      step();
    };
    const kube = new KubeClient(config());
    const got: Array<[string, unknown]> = [];
    const done = new Promise<unknown>((resolve) => {
      void kube.watch('/api/v1/namespaces', { resourceVersion: '0', allowWatchBookmarks: true, timeoutSeconds: 300, labelSelector: undefined }, (type, obj) => got.push([type, obj]), resolve);
    });
    assert.equal(await done, null);
    assert.deepEqual(got, events.map((e) => [e.type, e.object]));
    assert.equal(seen.at(-1)?.url, '/api/v1/namespaces?resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=300&watch=true');
    kube.close();
  });

  test('a refused watch reports the status (410 Gone: the informer relists); a broken stream reports an error', async () => {
    handler = (_req, _body, res) => json(res, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    const kube = new KubeClient(config());
    const gone = await new Promise<unknown>((resolve) => void kube.watch('/api/v1/secrets', {}, () => undefined, resolve));
    assert.equal((gone as { statusCode?: number }).statusCode, 410);
    assert.equal(apiMessage(gone), 'too old resource version');
    handler = (req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{}}\n');
      setTimeout(() => req.socket.destroy(), 20);
    };
    const broken = await new Promise<unknown>((resolve) => void kube.watch('/api/v1/secrets', {}, () => undefined, resolve));
    assert.ok(broken instanceof Error, String(broken));
    kube.close();
  });

  test('aborting a watch ends it quietly; watches do not take the connections of API requests', async () => {
    let open = 0;
    handler = (req, _body, res) => {
      if (req.url?.includes('watch=true')) {
        open++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('\n');
        return; // held open
      }
      json(res, 200, { ok: true });
    };
    const kube = new KubeClient(config(), { maxSockets: 1 });
    const ended: unknown[] = [];
    const watches = await Promise.all([1, 2, 3].map(() => kube.watch('/api/v1/secrets', {}, () => undefined, (err) => ended.push(err))));
    assert.equal(open, 3);
    assert.deepEqual(await kube.core.readNamespace({ name: 'x' }), { ok: true }, 'not queued behind the watches');
    for (const w of watches) w.abort();
    await until(() => ended.length === 3);
    assert.deepEqual(ended, [null, null, null]);
    kube.close();
  });
});
