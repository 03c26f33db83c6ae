import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type * as nodeHttp from 'node:http';
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { RegcredError } from '../../errors.js';
import { http } from '../../util/node-http.js';
import type { ProviderDeps } from '../types.js';
import { addressAllowed, hostAllowed, normalizeIp, type NetworkPolicy } from './address-policy.js';

// Enforcing a NetworkPolicy where connections are made:
// - createPolicyAgents: Node http/https Agents whose DNS lookup drops refused addresses, that
//   refuse an IP-literal host before connecting, and that check the connected socket's
//   remoteAddress before anything is written on it (the SDKs take these);
// - createPolicyFetch: a fetch on those agents, for ProviderDeps.fetch (the HTTP core, http.ts).
//   Written here rather than taken from undici: Node's built-in fetch accepts a connection policy only
//   through undici's own dispatcher classes, which Node does not expose, and one enforcement point
//   (these agents) then serves the SDKs and fetch alike.
// The check is on the address actually connected to, so DNS rebinding (a name answering a public
// address to one lookup and 127.0.0.1 to the next), `localhost`, IP literals and names that resolve
// to metadata addresses are all refused before a byte of the request is sent.

/** The error of a refused address. The address itself goes to remoteDetail (logs) only. */
export function addressRefused(host: string, address: string): RegcredError {
  return new RegcredError('AddressNotAllowed', `the address of ${host} is not allowed by the network policy`, false, {
    remoteDetail: `${host} -> ${address}`,
  });
}

/** A DNS lookup that drops the addresses the policy refuses; none left: AddressNotAllowed. */
export function guardedLookup(policy: NetworkPolicy): LookupFunction {
  return ((hostname: string, options: { all?: boolean } & Record<string, unknown>, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err);
      const allowed = addresses.filter((a) => addressAllowed(policy, a.address));
      if (allowed.length === 0) return callback(addressRefused(hostname, addresses[0]?.address ?? '(none)'));
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }) as unknown as LookupFunction;
}

/** Installs the IP-literal check and the connect-time check on an Agent. */
function guard<A extends nodeHttp.Agent>(agent: A, policy: NetworkPolicy): A {
  const create = (agent as unknown as { createConnection: (o: Record<string, unknown>, cb: unknown) => Socket }).createConnection.bind(agent);
  (agent as unknown as { createConnection: unknown }).createConnection = (options: Record<string, unknown>, cb: (err: Error | null, s?: Socket) => void) => {
    const host = String(options['host'] ?? options['hostname'] ?? 'localhost');
    const literal = normalizeIp(host);
    if (literal !== undefined && !addressAllowed(policy, literal)) {
      // No socket at all: the Agent hands the error to the request.
      process.nextTick(cb, addressRefused(host, literal));
      return undefined;
    }
    const socket = create({ ...options, lookup: guardedLookup(policy) }, cb);
    // First listener: runs before the TLS handshake starts and before queued request bytes are written.
    socket.prependOnceListener('connect', () => {
      const remote = socket.remoteAddress;
      if (remote === undefined || !addressAllowed(policy, remote)) socket.destroy(addressRefused(host, remote ?? '(unknown)'));
    });
    return socket;
  };
  return agent;
}

/**
 * Node Agents enforcing the policy's addresses, for SDKs (the AWS SDK's requestHandler takes
 * httpAgent/httpsAgent). No keep-alive: a one-shot CLI must not wait on idle sockets.
 */
export function createPolicyAgents(policy: NetworkPolicy): { httpAgent: nodeHttp.Agent; httpsAgent: https.Agent } {
  return {
    httpAgent: guard(new http.Agent({ keepAlive: false }), policy),
    httpsAgent: guard(new https.Agent({ keepAlive: false }), policy),
  };
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * A fetch whose connections obey the policy: the host is checked against allowedHosts before
 * connecting (HostNotAllowed), the address at connect time (AddressNotAllowed). Redirects are never
 * followed: a 3xx comes back as it is. Bodies: a string, URLSearchParams or bytes. Failures look
 * like fetch's (TypeError "fetch failed" with the cause), policy refusals are RegcredErrors.
 */
export function createPolicyFetch(policy: NetworkPolicy): typeof globalThis.fetch {
  const { httpAgent, httpsAgent } = createPolicyAgents(policy);
  const policyFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`fetch failed: unsupported scheme ${url.protocol}`));
    if (!hostAllowed(policy, url)) {
      return Promise.reject(new RegcredError('HostNotAllowed', `host ${url.host} is not allowed by the network policy`));
    }
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    let body: Buffer | undefined;
    const b = init.body;
    if (typeof b === 'string') body = Buffer.from(b);
    else if (b instanceof URLSearchParams) {
      body = Buffer.from(b.toString());
      if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    } else if (b instanceof Uint8Array) body = Buffer.from(b);
    else if (b !== undefined && b !== null) return Promise.reject(new TypeError('fetch failed: unsupported body type'));
    if (body !== undefined) headers.set('content-length', String(body.length));
    const signal = init.signal ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const req = (url.protocol === 'https:' ? https : http).request(url, {
        method: init.method ?? 'GET',
        headers: Object.fromEntries(headers),
        agent: url.protocol === 'https:' ? httpsAgent : httpAgent,
      });
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted.', 'AbortError'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      req.on('error', (err) => {
        done();
        if (err instanceof RegcredError || (err as { name?: string }).name === 'AbortError' || (err as { name?: string }).name === 'TimeoutError') reject(err);
        else reject(new TypeError('fetch failed', { cause: err }));
      });
      req.on('response', (res) => {
        const responseHeaders = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const status = res.statusCode ?? 0;
        const nullBody = NULL_BODY_STATUS.has(status) || init.method === 'HEAD';
        if (nullBody) res.resume();
        if (signal) {
          // The body stream errors when the caller aborts while it is read.
          const onBodyAbort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted.', 'AbortError'));
          signal.addEventListener('abort', onBodyAbort, { once: true });
          res.once('close', () => signal.removeEventListener('abort', onBodyAbort));
        }
        done();
        try {
          resolve(
            new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status: status >= 200 && status <= 599 ? status : 599,
              statusText: res.statusMessage ?? '',
              headers: responseHeaders,
            }),
          );
        } catch (err) {
          res.destroy();
          reject(new TypeError('fetch failed', { cause: err }));
        }
      });
      req.end(body);
    });
  };
  return policyFetch as typeof globalThis.fetch;
}

/** The deps with the policy: `network` set, and `fetch` replaced by a guarded one. */
export function withNetworkPolicy<D extends Pick<ProviderDeps, 'fetch' | 'network'>>(deps: D, policy: NetworkPolicy): D {
  return { ...deps, network: policy, fetch: createPolicyFetch(policy) };
}
