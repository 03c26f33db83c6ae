import { BlockList, isIP } from 'node:net';
import { RegcredError } from '../../errors.js';

// The network policy of provider calls: which hosts a URL may name (checked before any connection)
// and which addresses a connection may reach (checked on the address actually connected to, so DNS
// rebinding, IP literals and names resolving to loopback are all caught). Enforced by the HTTP core
// (http.ts) and the guarded agents and fetch of guarded-net.ts.

export interface NetworkPolicy {
  /** Host patterns: "api.jit.io", "*.amazonaws.com" (any depth of subdomain), "registry.example.com:5000" (port-specific), IPs. Undefined = any host. */
  allowedHosts?: readonly string[] | undefined;
  /** CIDRs refused at connect time on top of the always-refused ones (loopback 127/8 and ::1, link-local 169.254/16 and fe80::/10 including every cloud metadata address, 0.0.0.0/8, ::, IPv4-mapped forms of these, fd00:ec2::254, 100.100.100.200). */
  deniedCidrs?: readonly string[] | undefined;
  /** CIDRs allowed even though refused above: the administrator's override (e.g. tests on 127.0.0.1). */
  allowedCidrs?: readonly string[] | undefined;
}

/**
 * Refused whatever the policy says, unless allowedCidrs lets them through: this machine, link-local
 * (169.254.169.254 is the AWS, GCP and Azure metadata server; fd00:ec2::254 AWS's IPv6 one;
 * 100.100.100.200 Alibaba Cloud's), and the "this network" / unspecified addresses, which Linux
 * connects to loopback.
 */
export const ALWAYS_DENIED_CIDRS: readonly string[] = [
  '127.0.0.0/8',
  '169.254.0.0/16',
  '0.0.0.0/8',
  '100.100.100.200/32',
  '::1/128',
  '::/128',
  'fe80::/10',
  'fd00:ec2::254/128',
];

interface Compiled {
  denied: BlockList;
  allowed: BlockList;
  hosts: HostPattern[] | undefined;
}

interface HostPattern {
  /** Lower-case host without brackets; for "*.example.com": ".example.com". */
  host: string;
  wildcard: boolean;
  port: string | undefined;
}

const compiled = new WeakMap<NetworkPolicy, Compiled>();

function compile(policy: NetworkPolicy): Compiled {
  let c = compiled.get(policy);
  if (!c) {
    const denied = blockList([...ALWAYS_DENIED_CIDRS, ...(policy.deniedCidrs ?? [])], 'deniedCidrs');
    const allowed = blockList(policy.allowedCidrs ?? [], 'allowedCidrs');
    const hosts = policy.allowedHosts?.map(parseHostPattern);
    c = { denied, allowed, hosts };
    compiled.set(policy, c);
  }
  return c;
}

function blockList(cidrs: readonly string[], field: string): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr = '', prefixText, extra] = cidr.trim().split('/');
    const ip = normalizeIp(addr);
    const family = ip === undefined ? 0 : isIP(ip);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (ip === undefined || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      throw new RegcredError('InvalidSpec', `network policy: ${field} entry ${JSON.stringify(cidr)} is not an IP address or CIDR`);
    }
    list.addSubnet(ip, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/**
 * The address in a canonical form: IPv4 dotted quad, or IPv6 as the URL parser writes it (lower
 * case, compressed) without brackets or zone; an IPv4-mapped IPv6 address (::ffff:127.0.0.1, in
 * any spelling) becomes its IPv4 address. Undefined for anything that is not an IP address.
 */
export function normalizeIp(text: string): string | undefined {
  let ip = text.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return canonical;
}

/** True when a connection to `ip` may be made: allowedCidrs, else not in the always-denied ranges or deniedCidrs. Not an IP: false. */
export function addressAllowed(policy: NetworkPolicy, ip: string): boolean {
  const normalized = normalizeIp(ip);
  if (normalized === undefined) return false;
  const type = isIP(normalized) === 4 ? 'ipv4' : 'ipv6';
  const c = compile(policy);
  if (c.allowed.check(normalized, type)) return true;
  return !c.denied.check(normalized, type);
}

function parseHostPattern(pattern: string): HostPattern {
  const text = pattern.trim().toLowerCase();
  let host = text;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2];
  } else if (text.split(':').length === 2) {
    const [h = '', p = ''] = text.split(':');
    if (!/^[0-9]{1,5}$/.test(p)) throw new RegcredError('InvalidSpec', `network policy: allowedHosts entry ${JSON.stringify(pattern)} has a malformed port`);
    host = h;
    port = p;
  }
  const ip = normalizeIp(host);
  if (ip !== undefined) return { host: ip, wildcard: false, port: port === undefined ? undefined : String(Number(port)) };
  const wildcard = host.startsWith('*.');
  const name = (wildcard ? host.slice(1) : host).replace(/\.$/, '');
  if (!/^\.?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/.test(name) || name.includes('*')) {
    throw new RegcredError('InvalidSpec', `network policy: allowedHosts entry ${JSON.stringify(pattern)} is not a host, "*.domain" or IP address`);
  }
  return { host: name, wildcard, port: port === undefined ? undefined : String(Number(port)) };
}

/**
 * True when the URL's host (and port) matches one of allowedHosts, or when the policy has none.
 * "*.example.com" matches any name below example.com, not example.com itself; a pattern without a
 * port matches any port; IP patterns match the address in any spelling.
 */
export function hostAllowed(policy: NetworkPolicy, url: URL): boolean {
  const c = compile(policy);
  if (c.hosts === undefined) return true;
  const ip = normalizeIp(url.hostname);
  const host = ip ?? url.hostname.toLowerCase().replace(/\.$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  return c.hosts.some((p) => {
    if (p.port !== undefined && p.port !== port) return false;
    if (ip !== undefined) return !p.wildcard && p.host === ip;
    return p.wildcard ? host.endsWith(p.host) && host.length > p.host.length : host === p.host;
  });
}

/** Checks the patterns and CIDRs of a policy; throws RegcredError (InvalidSpec) naming the first bad entry. */
export function validateNetworkPolicy(policy: NetworkPolicy): void {
  compiled.delete(policy);
  compile(policy);
}
