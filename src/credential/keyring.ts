// Which credentials apply to which image, by the kubelet's rules (k8s.io/kubernetes
// pkg/credentialprovider/keyring.go: BasicDockerKeyring.Lookup, and URLsMatch in plugin matching):
// a key's host labels are globs (Go's filepath.Match per DNS label), the port must be the same, and
// the key's path a prefix of the image's repository. Shared by the webhook (which pull secrets a
// Pod's images need) and the exec provider (which of a plugin's answer keys covers a registry).
//
// Image references follow the distribution reference grammar (github.com/distribution/reference):
// the first path component is a registry host when it contains "." or ":" or is "localhost";
// otherwise the image is on Docker Hub.

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export interface ImageLocation {
  host: string;
  /** The repository path, without tag or digest. */
  path: string;
}

/** Where an image reference pulls from. */
export function imageLocation(image: string): ImageLocation {
  const ref = image.trim().split('@')[0]!;
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  const isHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = isHost ? first.toLowerCase() : DOCKER_HUB;
  let path = isHost ? ref.slice(slash + 1) : ref;
  // A tag is a ":" after the last "/" (a ":" before it belongs to a host port, handled above).
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon >= 0) path = path.slice(0, colon);
  if (host === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  return { host: DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host, path };
}

/** A .dockerconfigjson key as the kubelet reads it: scheme and Docker Hub's "/v1/" dropped. */
function parseKey(key: string): ImageLocation {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  let host = (slash < 0 ? k : k.slice(0, slash)).toLowerCase();
  let path = slash < 0 ? '' : k.slice(slash + 1);
  if (DOCKER_HUB_ALIASES.has(host)) {
    host = DOCKER_HUB;
    if (/^v[12]$/.test(path)) path = '';
  }
  return { host, path };
}

function hostMatches(pattern: string, host: string): boolean {
  const [pHost, pPort] = pattern.split(':');
  const [hHost, hPort] = host.split(':');
  if ((pPort ?? '') !== (hPort ?? '')) return false;
  const p = (pHost ?? '').split('.');
  const h = (hHost ?? '').split('.');
  return p.length === h.length && p.every((label, i) => globLabel(label, h[i]!));
}

/** Whether credentials stored under `registryKey` apply to `image`. */
export function registryMatchesImage(registryKey: string, image: string): boolean {
  const key = parseKey(registryKey);
  const img = imageLocation(image);
  if (!hostMatches(key.host, img.host)) return false;
  return key.path === '' || img.path === key.path || img.path.startsWith(`${key.path}/`);
}

interface ParsedPattern {
  labels: string[];
  port: string;
  path: string;
}

function splitRegistry(text: string): ParsedPattern | undefined {
  const s = text.replace(/^https?:\/\//, '');
  const slash = s.indexOf('/');
  const hostPort = slash === -1 ? s : s.slice(0, slash);
  const path = slash === -1 ? '' : s.slice(slash);
  const m = /^(.*?)(?::([0-9]+))?$/.exec(hostPort);
  if (!m || !m[1]) return undefined;
  return { labels: m[1].toLowerCase().split('.'), port: m[2] ?? '', path };
}

/** Go's filepath.Match for one host label (no separators inside a label): `*`, `?`, `[...]`, `\x`. */
export function globLabel(pattern: string, label: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '\\') {
      const next = pattern[++i];
      if (next === undefined) return false; // Go: ErrBadPattern
      re += next.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) return false; // Go: ErrBadPattern
      const body = pattern.slice(i + 1, end);
      if (!/^\^?[A-Za-z0-9-]+$/.test(body)) return false;
      re += `[${body}]`;
      i = end;
    } else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(label);
}

/** Whether the answer's key `pattern` covers the concrete `registry`, by the kubelet's URLsMatch. */
export function registryMatches(pattern: string, registry: string): boolean {
  const p = splitRegistry(pattern);
  const r = splitRegistry(registry);
  if (!p || !r) return false;
  if (p.port !== r.port || p.labels.length !== r.labels.length || !r.path.startsWith(p.path)) return false;
  return p.labels.every((label, i) => globLabel(label, r.labels[i]!));
}

/** The best key for a registry: an exact key first, then keys without globs, then the longest. */
export function bestMatch(keys: string[], registry: string): string | undefined {
  const matching = keys.filter((k) => registryMatches(k, registry));
  const exact = matching.find((k) => k.toLowerCase() === registry.toLowerCase());
  if (exact) return exact;
  const glob = (k: string) => (/[*?[]/.test(k) ? 1 : 0);
  return matching.sort((a, b) => glob(a) - glob(b) || b.length - a.length)[0];
}
