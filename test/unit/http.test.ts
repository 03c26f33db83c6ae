// Unit tests for src/controller/http.ts: bind addresses, /metrics, /healthz, /readyz, 404s.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { parseBindAddress, startHttpServers, type HttpServers } from '../../src/controller/http.js';
import { silentLogger } from '../../src/log.js';

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

function get(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let servers: HttpServers | undefined;
afterEach(async () => {
  await servers?.close();
  servers = undefined;
});

function registryWithOneCounter(): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'regcred_test_total', help: 'test', registers: [registry] });
  c.inc(7);
  return registry;
}

describe('parseBindAddress', () => {
  test('the forms a flag takes', () => {
    assert.deepEqual(parseBindAddress(':8080'), { host: '', port: 8080 });
    assert.deepEqual(parseBindAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseBindAddress('0.0.0.0:9090'), { host: '0.0.0.0', port: 9090 });
    assert.deepEqual(parseBindAddress('localhost:8081'), { host: 'localhost', port: 8081 });
    assert.deepEqual(parseBindAddress('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(parseBindAddress('[::]:8080'), { host: '::', port: 8080 });
    assert.equal(parseBindAddress('0'), undefined);
  });

  test('anything else is an error naming the address', () => {
    for (const bad of ['', '8080', 'host', ':', ':99999', ':http', '::1:8080', 'a b:80']) {
      assert.throws(() => parseBindAddress(bad), /invalid bind address/, bad);
    }
  });
});

describe('startHttpServers', () => {
  test('serves /metrics with the registry content type, and probes on their own port', async () => {
    const registry = registryWithOneCounter();
    servers = await startHttpServers({
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      registry,
      healthz: () => ({ ok: true }),
      readyz: () => ({ ok: true }),
      log: silentLogger(),
    });
    assert.ok(servers.metricsPort && servers.healthPort);
    assert.notEqual(servers.metricsPort, servers.healthPort);

    const metrics = await get(servers.metricsPort, '/metrics');
    assert.equal(metrics.status, 200);
    assert.equal(metrics.type, registry.contentType);
    assert.match(metrics.body, /^regcred_test_total 7$/m);

    const healthz = await get(servers.healthPort, '/healthz');
    assert.deepEqual([healthz.status, healthz.body], [200, 'ok']);
    assert.match(healthz.type ?? '', /^text\/plain/);
    const readyz = await get(servers.healthPort, '/readyz?verbose');
    assert.deepEqual([readyz.status, readyz.body], [200, 'ok']);
    const head = await get(servers.healthPort, '/healthz', 'HEAD');
    assert.equal(head.status, 200);

    // Each server answers its own paths only.
    assert.equal((await get(servers.metricsPort, '/healthz')).status, 404);
    assert.equal((await get(servers.healthPort, '/metrics')).status, 404);
    assert.equal((await get(servers.metricsPort, '/')).status, 404);
    assert.equal((await get(servers.healthPort, '/readyz/extra')).status, 404);
    assert.equal((await get(servers.metricsPort, '/metrics', 'POST')).status, 405);
  });

  test('a failing probe answers 500 with its reason; probes are evaluated per request', async () => {
    let ready: { ok: boolean; reason?: string } = { ok: false, reason: 'informers not synced' };
    servers = await startHttpServers({
      metricsBindAddress: '0',
      healthProbeBindAddress: '127.0.0.1:0',
      registry: new Registry(),
      healthz: () => {
        throw new Error('probe exploded');
      },
      readyz: () => ready,
      log: silentLogger(),
    });
    assert.equal(servers.metricsPort, undefined, 'metrics disabled with "0"');
    const port = servers.healthPort!;
    const notReady = await get(port, '/readyz');
    assert.equal(notReady.status, 500);
    assert.match(notReady.type ?? '', /^text\/plain/);
    assert.equal(notReady.body.trim(), 'informers not synced');
    ready = { ok: true };
    assert.equal((await get(port, '/readyz')).status, 200);
    const broken = await get(port, '/healthz');
    assert.equal(broken.status, 500);
    assert.match(broken.body, /probe exploded/);
    ready = { ok: false };
    assert.equal((await get(port, '/readyz')).status, 500);
  });

  test('both disabled starts nothing; close() is still fine', async () => {
    servers = await startHttpServers({
      metricsBindAddress: '0',
      healthProbeBindAddress: '0',
      registry: new Registry(),
      healthz: () => ({ ok: true }),
      readyz: () => ({ ok: true }),
      log: silentLogger(),
    });
    assert.equal(servers.metricsPort, undefined);
    assert.equal(servers.healthPort, undefined);
  });

  test('a port in use rejects start with EADDRINUSE', async () => {
    const first = await startHttpServers({
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '0',
      registry: new Registry(),
      healthz: () => ({ ok: true }),
      readyz: () => ({ ok: true }),
      log: silentLogger(),
    });
    servers = first;
    const taken = `127.0.0.1:${first.metricsPort}`;
    await assert.rejects(
      startHttpServers({
        metricsBindAddress: '127.0.0.1:0',
        healthProbeBindAddress: taken,
        registry: new Registry(),
        healthz: () => ({ ok: true }),
        readyz: () => ({ ok: true }),
        log: silentLogger(),
      }),
      /EADDRINUSE/,
    );
  });

  test('the same fixed address for both serves every path on one port', async () => {
    // Find a free port, then ask for it twice.
    const probe = await startHttpServers({
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '0',
      registry: new Registry(),
      healthz: () => ({ ok: true }),
      readyz: () => ({ ok: true }),
      log: silentLogger(),
    });
    const port = probe.metricsPort!;
    await probe.close();
    servers = await startHttpServers({
      metricsBindAddress: `127.0.0.1:${port}`,
      healthProbeBindAddress: `127.0.0.1:${port}`,
      registry: registryWithOneCounter(),
      healthz: () => ({ ok: true }),
      readyz: () => ({ ok: true }),
      log: silentLogger(),
    });
    assert.equal(servers.metricsPort, port);
    assert.equal(servers.healthPort, port);
    assert.equal((await get(port, '/metrics')).status, 200);
    assert.equal((await get(port, '/healthz')).status, 200);
  });

  test('close() ends keep-alive connections too', async () => {
    servers = await startHttpServers({
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '0',
      registry: registryWithOneCounter(),
      healthz: () => ({ ok: true }),
      readyz: () => ({ ok: true }),
      log: silentLogger(),
    });
    const port = servers.metricsPort!;
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      })
        .on('error', reject)
        .end();
    });
    const started = Date.now();
    await servers.close();
    servers = undefined;
    assert.ok(Date.now() - started < 1000, 'close did not wait for the idle connection');
    agent.destroy();
    await assert.rejects(get(port, '/metrics'), /ECONNREFUSED/);
  });
});
