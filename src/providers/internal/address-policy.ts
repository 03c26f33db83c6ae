// Placeholder until the address policy lands: host patterns only.
export interface NetworkPolicy {
  allowedHosts?: readonly string[] | undefined;
}
export function hostAllowed(policy: NetworkPolicy, url: URL): boolean {
  if (!policy.allowedHosts) return true;
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return policy.allowedHosts.some((p) => {
    const [h, pp] = p.toLowerCase().split(/:(?=\d+$)/);
    if (pp !== undefined && pp !== port) return false;
    return h!.startsWith('*.') ? host.endsWith(h!.slice(1)) : host === h;
  });
}
