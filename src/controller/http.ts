// The metrics endpoint and the health probes, on node:http: GET /metrics, /healthz, /readyz.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { http } from '../util/node-http.js';

export interface Probe {
  (): { ok: boolean; reason?: string };
}

export interface HttpServersOptions {
  /** ":8080" (all interfaces), "127.0.0.1:0" (a free port), or "0" (disabled). */
  metricsBindAddress: string;
  /** ":8081" by default; "0" disables. */
  healthProbeBindAddress: string;
  registry: Registry;
  healthz: Probe;
  readyz: Probe;
  log: Logger;
}

export interface HttpServers {
  metricsPort?: number;
  healthPort?: number;
  close(): Promise<void>;
}

/**
 * "host:port", ":port" (host "" = all interfaces), "[::1]:port"; "0" means disabled (undefined).
 * Throws on anything else.
 */
export function parseBindAddress(addr: string): { host: string; port: number } | undefined {
  const a = addr.trim();
  if (a === '0') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.%\w]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(a);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new Error(`invalid bind address "${addr}": want host:port, :port, or 0 to disable`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

type Routes = Record<string, (res: ServerResponse) => Promise<void> | void>;

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function probeRoute(probe: Probe): (res: ServerResponse) => void {
  return (res) => {
    let result: { ok: boolean; reason?: string };
    try {
      result = probe();
    } catch (err) {
      result = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    if (result.ok) text(res, 200, 'ok');
    else text(res, 500, `${result.reason ?? 'not ok'}\n`);
  };
}

function handler(routes: Routes, log: Logger) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      path = '';
    }
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return text(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return text(res, 405, 'method not allowed\n');
    }
    Promise.resolve()
      .then(() => route(res))
      .catch((err: unknown) => {
        log.warn({ path, err: err instanceof Error ? err.message : String(err) }, 'http handler failed');
        if (!res.headersSent) text(res, 500, 'internal error\n');
        else res.destroy();
      });
  };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    if (host) server.listen(port, host, done);
    else server.listen(port, done);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startHttpServers(opts: HttpServersOptions): Promise<HttpServers> {
  const metricsAddr = parseBindAddress(opts.metricsBindAddress);
  const healthAddr = parseBindAddress(opts.healthProbeBindAddress);
  const metricsRoutes: Routes = {
    '/metrics': async (res) => {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'Content-Type': opts.registry.contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    },
  };
  const healthRoutes: Routes = { '/healthz': probeRoute(opts.healthz), '/readyz': probeRoute(opts.readyz) };

  const servers: Server[] = [];
  const result: HttpServers = {
    close: async () => {
      await Promise.all(servers.map(closeServer));
    },
  };
  try {
    // The same fixed address for both: one server answers every path.
    if (metricsAddr && healthAddr && metricsAddr.port !== 0 && metricsAddr.host === healthAddr.host && metricsAddr.port === healthAddr.port) {
      const server = http.createServer(handler({ ...metricsRoutes, ...healthRoutes }, opts.log));
      servers.push(server);
      result.metricsPort = result.healthPort = await listen(server, metricsAddr.host, metricsAddr.port);
    } else {
      if (metricsAddr) {
        const server = http.createServer(handler(metricsRoutes, opts.log));
        servers.push(server);
        result.metricsPort = await listen(server, metricsAddr.host, metricsAddr.port);
      }
      if (healthAddr) {
        const server = http.createServer(handler(healthRoutes, opts.log));
        servers.push(server);
        result.healthPort = await listen(server, healthAddr.host, healthAddr.port);
      }
    }
  } catch (err) {
    await result.close();
    throw err;
  }
  if (result.metricsPort !== undefined) opts.log.info({ address: opts.metricsBindAddress, port: result.metricsPort }, 'serving metrics');
  if (result.healthPort !== undefined) opts.log.info({ address: opts.healthProbeBindAddress, port: result.healthPort }, 'serving health probes');
  return result;
}
