// The network policy against real local HTTP servers (no control plane): the guarded fetch and
// agents of src/providers/internal/guarded-net.ts under the HTTP core. Loopback is refused unless
// allowedCidrs lets it through, `localhost` is refused at connect time even when allowed as a
// host, redirects (to another host, or a 307 that would re-send a body) reach nobody, and a 50 MB
// answer is cut off early without the memory to hold it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegcredError } from '../../src/errors.js';
import { createPolicyAgents, createPolicyFetch, withNetworkPolicy } from '../../src/providers/internal/guarded-net.js';
import { httpRequest } from '../../src/providers/internal/http.js';
import { createJitProvider, jitConfig, type JitConfig } from '../../src/providers/jit.js';
import { fakeDeps, fakeSources, rejection } from '../harness/provider-tests.js';

interface Recorder {
  server: Server;
  port: number;
  connections: number;
  requests: Array<{ method: string; url: string; body: string }>;
  close(): Promise<void>;
}

async function startServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Recorder> {
  const r = { connections: 0, requests: [] } as unknown as Recorder;
  r.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      r.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      handler(req, res, body);
    });
  });
  r.server.on('connection', () => r.connections++);
  await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.port = (r.server.address() as AddressInfo).port;
  r.close = () =>
    new Promise<void>((resolve) => {
      r.server.closeAllConnections();
      r.server.close(() => resolve());
    });
  return r;
}


const LOOPBACK_OK = { allowedCidrs: ['127.0.0.1/32'] };

describe('network policy against real servers', () => {
  let ok: Recorder;
  let other: Recorder;
  let redirecting: Recorder;
  let huge: Recorder;
  let hugeBytesSent = 0;

  before(async () => {
    ok = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    other = await startServer((_req, res) => res.writeHead(200).end('{"stolen":true}'));
    redirecting = await startServer((req, res) => {
      const status = req.url === '/307' ? 307 : 302;
      res.writeHead(status, { location: `http://127.0.0.1:${other.port}/landing` }).end();
    });
    huge = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const total = 50 * 1024 * 1024;
      const write = () => {
        while (hugeBytesSent < total) {
          hugeBytesSent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      res.on('close', () => undefined);
      write();
    });
  });
  after(async () => {
    await Promise.all([ok.close(), other.close(), redirecting.close(), huge.close()]);
  });

  test('a URL to 127.0.0.1 is refused when allowedCidrs does not list it: no connection is made', async () => {
    const before = ok.connections;
    const fetch = createPolicyFetch({});
    const err = await rejection(httpRequest({ fetch, network: {} }, { what: 't', url: `http://127.0.0.1:${ok.port}/` }));
    assert.equal(err.code, 'AddressNotAllowed');
    assert.equal(err.retryable, false);
    assert.equal(err.message, 't: the address of 127.0.0.1 is not allowed by the network policy');
    assert.equal(ok.connections, before);
    // IPv4-mapped spelling of the same address: refused too.
    const mapped = await rejection(httpRequest({ fetch, network: {} }, { what: 't', url: `http://[::ffff:127.0.0.1]:${ok.port}/` }));
    assert.equal(mapped.code, 'AddressNotAllowed');
  });

  test('with 127.0.0.1 in allowedCidrs the same call succeeds', async () => {
    const res = await httpRequest({ fetch: createPolicyFetch(LOOPBACK_OK), network: LOOPBACK_OK }, { what: 't', url: `http://127.0.0.1:${ok.port}/` });
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"ok":true}');
  });

  test('`localhost` allowed as a host pattern is still refused at connect time (it resolves to loopback)', async () => {
    const policy = { allowedHosts: [`localhost:${ok.port}`] };
    const before = ok.connections;
    const err = await rejection(httpRequest({ fetch: createPolicyFetch(policy), network: policy }, { what: 't', url: `http://localhost:${ok.port}/` }));
    assert.equal(err.code, 'AddressNotAllowed');
    assert.equal(err.message, 't: the address of localhost is not allowed by the network policy');
    assert.match(err.remoteDetail ?? '', /^localhost -> (127\.0\.0\.1|::1)$/);
    assert.equal(ok.connections, before);
  });

  test('a host not in allowedHosts is refused before connecting, by the core and by the guarded fetch alone', async () => {
    const policy = { allowedHosts: ['api.example.com'], ...LOOPBACK_OK };
    const before = ok.connections;
    const err = await rejection(httpRequest({ fetch: createPolicyFetch(policy), network: policy }, { what: 't', url: `http://127.0.0.1:${ok.port}/` }));
    assert.equal(err.code, 'HostNotAllowed');
    const bare = await createPolicyFetch(policy)(`http://127.0.0.1:${ok.port}/`).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(bare instanceof RegcredError && bare.code === 'HostNotAllowed');
    assert.equal(ok.connections, before);
  });

  test('a redirect to another host is refused: the other server sees no request', async () => {
    const policy = LOOPBACK_OK;
    const err = await rejection(httpRequest({ fetch: createPolicyFetch(policy), network: policy }, { what: 't', url: `http://127.0.0.1:${redirecting.port}/302` }));
    assert.equal(err.message, 't: HTTP 302: redirects are not followed (set the URL to the final address)');
    assert.equal(other.requests.length, 0);
  });

  test('a 307 never re-sends the body: the second server sees no request (guarded fetch and plain fetch)', async () => {
    for (const fetch of [createPolicyFetch(LOOPBACK_OK), globalThis.fetch]) {
      const err = await rejection(
        httpRequest({ fetch, network: LOOPBACK_OK }, { what: 't', url: `http://127.0.0.1:${redirecting.port}/307`, method: 'POST', body: 'access_token=secret-value' }),
      );
      assert.match(err.message, /HTTP 307: redirects are not followed/);
    }
    assert.equal(redirecting.requests.filter((r) => r.body === 'access_token=secret-value').length, 2);
    assert.equal(other.requests.length, 0);
  });

  test('a 50 MB answer is aborted past the cap, with a memory increase far below 50 MB', async () => {
    const m0 = process.memoryUsage();
    const err = await rejection(httpRequest({ fetch: createPolicyFetch(LOOPBACK_OK), network: LOOPBACK_OK }, { what: 't', url: `http://127.0.0.1:${huge.port}/` }));
    const m1 = process.memoryUsage();
    assert.equal(err.message, 't: the response is larger than 1 MiB');
    const grown = m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers);
    assert.ok(grown < 16 * 1024 * 1024, `memory grew by ${(grown / 1048576).toFixed(1)} MiB`);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(hugeBytesSent < 50 * 1024 * 1024, `the server was cut off after ${(hugeBytesSent / 1048576).toFixed(1)} MiB`);
  });

  test('a provider with withNetworkPolicy: jit to a loopback baseUrl is refused before the request', async () => {
    const before = ok.connections;
    const config = jitConfig.parse({ secretRef: { name: 'jit' }, baseUrl: `http://127.0.0.1:${ok.port}` }) as JitConfig;
    const deps = withNetworkPolicy(fakeDeps({ sources: fakeSources({ jit: { client_id: 'id', secret: 'jit-secret-value' } }) }), {});
    const err = await rejection(createJitProvider(config, deps).mint());
    assert.equal(err.code, 'AddressNotAllowed');
    assert.match(err.message, /^jit login: the address of 127\.0\.0\.1 is not allowed/);
    assert.equal(ok.connections, before);
  });

  test('the agents for SDKs refuse loopback at connect time', async () => {
    const { httpAgent } = createPolicyAgents({});
    const before = ok.connections;
    const err = await new Promise<unknown>((resolve) => {
      http.get(`http://127.0.0.1:${ok.port}/`, { agent: httpAgent }, () => resolve(undefined)).on('error', resolve);
    });
    assert.ok(err instanceof RegcredError && err.code === 'AddressNotAllowed', String(err));
    const viaName = await new Promise<unknown>((resolve) => {
      http.get(`http://localhost:${ok.port}/`, { agent: httpAgent }, () => resolve(undefined)).on('error', resolve);
    });
    assert.ok(viaName instanceof RegcredError && viaName.code === 'AddressNotAllowed', String(viaName));
    assert.equal(ok.connections, before);
  });
});
