// The Entra calls of `acr` under a network policy: the real @azure/identity ClientSecretCredential
// sends through the guarded connections (internal/azure-http.ts), so an authorityHost whose address
// is refused fails with AddressNotAllowed before the server sees a connection; and the HttpClient
// itself against real local servers: answers handed back, redirects not followed, the size cap.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { createAcrProvider } from '../../src/providers/acr/index.js';
import { identityGetEntraToken } from '../../src/providers/acr/entra.js';
import { acrConfig, type AcrConfig } from '../../src/providers/acr/schema.js';
import { createGuardedAzureHttpClient } from '../../src/providers/internal/azure-http.js';
import type { NetworkPolicy } from '../../src/providers/internal/address-policy.js';
import { RegcredError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { resetRegisteredSecrets } from '../../src/redact.js';
import { makeTestTls } from '../harness/doubles/azure.js';
import { listenLoopback } from '../harness/doubles/http-util.js';
import { fakeSources, rejection } from '../harness/provider-tests.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const SECRET = 'Abc8Q~client-secret-value-0123456789';
const SCOPE = 'https://management.azure.com/.default';

/** A server counting TCP connections and HTTP requests. */
function counting<S extends Server | HttpsServer>(server: S) {
  const seen = { connections: 0, requests: 0 };
  server.on('connection', () => seen.connections++);
  server.on('request', () => seen.requests++);
  return seen;
}


describe('acr: Entra token requests under a network policy', () => {
  let entra: HttpsServer;
  let seen: { connections: number; requests: number };
  let port: number;
  let stop: () => Promise<void>;

  before(async () => {
    const tls = makeTestTls();
    entra = createHttpsServer({ key: tls.key, cert: tls.cert }, (_req, res) => {
      res.writeHead(500).end();
    });
    seen = counting(entra);
    ({ port, stop } = await listenLoopback(entra));
  });
  after(async () => {
    resetRegisteredSecrets();
    await stop();
  });

  const request = (authorityHost: string, network: NetworkPolicy | undefined) =>
    identityGetEntraToken({ kind: 'clientSecret', tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET, authorityHost, scope: SCOPE, network });

  test('an authorityHost on a refused address (loopback by IP and by name): AddressNotAllowed, no connection made', async () => {
    for (const host of [`https://127.0.0.1:${port}`, `https://localhost:${port}`]) {
      const err = await rejection(request(host, {}));
      assert.equal(err.code, 'AddressNotAllowed', `${host}: ${err.message}`);
      assert.equal(err.retryable, false);
    }
    assert.deepEqual(seen, { connections: 0, requests: 0 }, 'not a byte reached the server');
  });

  test('a host outside allowedHosts: HostNotAllowed, no connection made', async () => {
    const err = await rejection(request(`https://localhost:${port}`, { allowedHosts: ['login.microsoftonline.com'], allowedCidrs: ['127.0.0.0/8'] }));
    assert.equal(err.code, 'HostNotAllowed');
    assert.deepEqual(seen, { connections: 0, requests: 0 });
  });

  test('the provider: the refusal names the call, and no exchange is attempted', async () => {
    const config = acrConfig.parse({
      registry: 'myregistry.azurecr.io',
      tenantId: TENANT,
      clientId: CLIENT,
      authorityHost: `https://127.0.0.1:${port}`,
      auth: { secretRef: { name: 'acr-sp' } },
    }) as AcrConfig;
    let fetched = 0;
    const provider = createAcrProvider(config, {
      sources: fakeSources(() => ({ AZURE_CLIENT_SECRET: SECRET })),
      now: () => new Date(),
      fetch: (async () => {
        fetched++;
        return new Response('{}');
      }) as typeof globalThis.fetch,
      network: {},
      log: silentLogger(),
    });
    const err = await rejection(provider.mint());
    assert.equal(err.code, 'AddressNotAllowed');
    assert.match(err.message, /^acr myregistry\.azurecr\.io: Entra token \(client secret\): the address of 127\.0\.0\.1 is not allowed by the network policy$/);
    assert.equal(fetched, 0);
    assert.deepEqual(seen, { connections: 0, requests: 0 });
  });

  test('with the address allowed (allowedCidrs), the same request does connect', async () => {
    // The test CA is not trusted by this process: the request fails in the TLS handshake, after connecting.
    await assert.rejects(request(`https://127.0.0.1:${port}`, { allowedCidrs: ['127.0.0.0/8'] }));
    assert.ok(seen.connections >= 1, 'the guarded client connected');
  });
});

describe('the guarded Azure HttpClient', () => {
  const servers: (() => Promise<void>)[] = [];
  let base: string;
  let elsewhere: string;
  let elsewhereSeen: { connections: number; requests: number };
  const allowLoopback: NetworkPolicy = { allowedCidrs: ['127.0.0.0/8'] };

  before(async () => {
    const other: Server = createHttpServer((_req, res) => res.end('{}'));
    elsewhereSeen = counting(other);
    const o = await listenLoopback(other);
    servers.push(o.stop);
    elsewhere = `http://127.0.0.1:${o.port}`;
    const main: Server = createHttpServer((req, res) => {
      if (req.url === '/token') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'application/json', 'X-Ms-Request-Id': 'abc' });
          res.end(JSON.stringify({ got: body, method: req.method, encoding: req.headers['accept-encoding'] ?? null }));
        });
      } else if (req.url === '/moved') {
        res.writeHead(307, { location: `${elsewhere}/token` }).end();
      } else if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        const more = () => {
          while (sent < 4 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      } else res.writeHead(404).end();
    });
    const m = await listenLoopback(main);
    servers.push(m.stop);
    base = `http://127.0.0.1:${m.port}`;
  });
  after(async () => {
    await Promise.all(servers.map((s) => s()));
  });

  const pipelineRequest = (path: string, init: { method?: 'GET' | 'POST'; body?: string } = {}) =>
    createPipelineRequest({
      url: `${base}${path}`,
      method: init.method ?? 'GET',
      headers: createHttpHeaders({ 'content-type': 'application/x-www-form-urlencoded', 'accept-encoding': 'gzip,deflate' }),
      allowInsecureConnection: true,
      ...(init.body !== undefined ? { body: init.body } : {}),
    });

  test('sends the request and hands back status, headers (any case) and body', async () => {
    const client = createGuardedAzureHttpClient(allowLoopback);
    const req = pipelineRequest('/token', { method: 'POST', body: 'grant_type=client_credentials' });
    const res = await client.httpClient.sendRequest(req);
    assert.equal(res.status, 200);
    assert.equal(res.request, req);
    assert.equal(res.headers.get('x-ms-request-id'), 'abc');
    assert.equal(res.headers.get('Content-Type'), 'application/json');
    assert.equal(res.headers.toJSON()['x-ms-request-id'], 'abc');
    assert.deepEqual(JSON.parse(res.bodyAsText ?? ''), { got: 'grant_type=client_credentials', method: 'POST', encoding: null });
    assert.equal(client.refusal(), undefined);
  });

  test('a 307 is an error, and its Location is never contacted', async () => {
    const client = createGuardedAzureHttpClient(allowLoopback);
    const err = await rejection(client.httpClient.sendRequest(pipelineRequest('/moved', { method: 'POST', body: 'client_secret=x' })));
    assert.match(err.message, /HTTP 307: redirects are not followed/);
    assert.equal(client.refusal(), err);
    assert.deepEqual(elsewhereSeen, { connections: 0, requests: 0 });
  });

  test('a body over the cap is cut off', async () => {
    const client = createGuardedAzureHttpClient(allowLoopback, { maxBytes: 1024 * 1024 });
    const err = await rejection(client.httpClient.sendRequest(pipelineRequest('/huge')));
    assert.match(err.message, /larger than 1 MiB/);
  });

  test('plain http without allowInsecureConnection is not sent; loopback without allowedCidrs is refused', async () => {
    const strict = createGuardedAzureHttpClient({});
    const req = pipelineRequest('/token');
    req.allowInsecureConnection = false;
    assert.equal((await rejection(strict.httpClient.sendRequest(req))).code, 'InsecureTransportRefused');
    assert.equal((await rejection(strict.httpClient.sendRequest(pipelineRequest('/token')))).code, 'AddressNotAllowed');
  });
});
