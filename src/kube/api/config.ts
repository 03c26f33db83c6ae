import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { isIPv6 } from 'node:net';
import { parse } from 'yaml';

// Where the API server is and who we are to it: a kubeconfig file (--kubeconfig, else $KUBECONFIG,
// else ~/.kube/config) or, inside a Pod, the service account's mounted token and CA. What a
// context names is read the way client-go reads it: file references relative to the kubeconfig's
// folder, the first file in $KUBECONFIG that defines a name wins. The shapes below are also those
// of @kubernetes/client-node's KubeConfig, so an object of either kind serves as the source of a
// connection (kubeClient() in client.ts).

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** One cluster entry. caData and the *Data fields below are base64, as in the file. */
export interface ClusterInfo {
  server: string;
  caData?: string | null | undefined;
  caFile?: string | null | undefined;
  skipTLSVerify?: boolean | null | undefined;
  tlsServerName?: string | null | undefined;
  proxyUrl?: string | null | undefined;
}

/** An `exec` credential plugin (client.authentication.k8s.io ExecConfig). */
export interface ExecConfig {
  command: string;
  args?: string[] | null | undefined;
  env?: Array<{ name: string; value: string }> | null | undefined;
  apiVersion?: string | undefined;
  provideClusterInfo?: boolean | undefined;
}

/** One user entry. */
export interface UserInfo {
  name?: string | undefined;
  certData?: string | null | undefined;
  certFile?: string | null | undefined;
  keyData?: string | null | undefined;
  keyFile?: string | null | undefined;
  token?: string | null | undefined;
  /** Re-read while running: rotated tokens (projected service-account tokens) are picked up. */
  tokenFile?: string | null | undefined;
  username?: string | null | undefined;
  password?: string | null | undefined;
  exec?: ExecConfig | null | undefined;
  /** Only what client-node's in-cluster config puts here ({config: {tokenFile}}) and an oidc `id-token`. */
  authProvider?: { name?: string; config?: Record<string, string | undefined> } | null | undefined;
  impersonateUser?: string | null | undefined;
}

/** What a connection needs of a kubeconfig; client-node's KubeConfig has the same three methods. */
export interface KubeConfigLike {
  getCurrentCluster(): ClusterInfo | null;
  getCurrentUser(): UserInfo | null;
  getCurrentContext(): string;
}

interface ContextInfo {
  cluster: string;
  user: string | undefined;
}

type Raw = Record<string, unknown>;
const isRecord = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A parsed kubeconfig: one file or several merged ($KUBECONFIG). */
export class Kubeconfig implements KubeConfigLike {
  private readonly clusters = new Map<string, ClusterInfo>();
  private readonly users = new Map<string, UserInfo>();
  private readonly contexts = new Map<string, ContextInfo>();
  private current: string | undefined;

  /** Adds the entries of one file; names already defined keep their first definition. */
  addFile(path: string): void {
    const doc: unknown = parse(readFileSync(path, 'utf8'));
    this.addDocument(doc ?? {}, dirname(resolve(path)));
  }

  addDocument(doc: unknown, baseDir: string): void {
    if (!isRecord(doc)) throw new Error('not a kubeconfig: the document is not a mapping');
    const file = (p: unknown) => {
      const s = str(p);
      return s === undefined ? undefined : isAbsolute(s) ? s : join(baseDir, s);
    };
    entries(doc['clusters'], 'clusters', 'cluster', (name, c, where) => {
      const server = str(c['server']);
      if (!server) throw new Error(`${where}.cluster.server is missing`);
      if (this.clusters.has(name)) return;
      this.clusters.set(name, {
        server: server.replace(/\/+$/, ''),
        caData: str(c['certificate-authority-data']),
        caFile: file(c['certificate-authority']),
        skipTLSVerify: c['insecure-skip-tls-verify'] === true,
        tlsServerName: str(c['tls-server-name']),
        proxyUrl: str(c['proxy-url']),
      });
    });
    entries(doc['users'], 'users', 'user', (name, u) => {
      if (this.users.has(name)) return;
      const exec = isRecord(u['exec']) ? execConfig(u['exec'], baseDir) : undefined;
      const provider = isRecord(u['auth-provider']) ? u['auth-provider'] : undefined;
      this.users.set(name, {
        name,
        certData: str(u['client-certificate-data']),
        certFile: file(u['client-certificate']),
        keyData: str(u['client-key-data']),
        keyFile: file(u['client-key']),
        token: str(u['token']),
        tokenFile: file(u['tokenFile'] ?? u['token-file']),
        username: str(u['username']),
        password: str(u['password']),
        exec,
        authProvider: provider ? { name: str(provider['name']) ?? '', config: isRecord(provider['config']) ? (provider['config'] as Record<string, string>) : {} } : undefined,
        impersonateUser: str(u['as']),
      });
    }, true);
    entries(doc['contexts'], 'contexts', 'context', (name, c, where) => {
      const cluster = str(c['cluster']);
      if (!cluster) throw new Error(`${where}.context.cluster is missing`);
      if (!this.contexts.has(name)) this.contexts.set(name, { cluster, user: str(c['user']) });
    });
    this.current ??= str(doc['current-context']);
  }

  hasContext(name: string): boolean {
    return this.contexts.has(name);
  }

  useContext(name: string): void {
    this.current = name;
  }

  getCurrentContext(): string {
    return this.current ?? '';
  }

  getCurrentCluster(): ClusterInfo | null {
    const ctx = this.current === undefined ? undefined : this.contexts.get(this.current);
    return (ctx && this.clusters.get(ctx.cluster)) ?? null;
  }

  getCurrentUser(): UserInfo | null {
    const ctx = this.current === undefined ? undefined : this.contexts.get(this.current);
    return (ctx?.user !== undefined && this.users.get(ctx.user)) || null;
  }
}

/** Calls `fn` for each `{name, <field>: {...}}` of a list; `optional`: the field may be absent (users). */
function entries(list: unknown, what: string, field: string, fn: (name: string, body: Raw, where: string) => void, optional = false): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw new Error(`${what} is not a list`);
  list.forEach((item: unknown, i) => {
    const where = `${what}[${i}]`;
    if (!isRecord(item) || !str(item['name'])) throw new Error(`${where}.name is missing`);
    const body = item[field];
    if (!isRecord(body) && !(optional && body == null)) throw new Error(`${where}.${field} is missing`);
    fn(item['name'] as string, isRecord(body) ? body : {}, where);
  });
}

function execConfig(e: Raw, baseDir: string): ExecConfig {
  const command = str(e['command']);
  if (!command) throw new Error('exec: command is missing');
  const env = Array.isArray(e['env']) ? e['env'].filter(isRecord).map((v) => ({ name: String(v['name'] ?? ''), value: String(v['value'] ?? '') })) : undefined;
  return {
    // As client-go: a command with a path separator is relative to the kubeconfig's folder; a bare name is looked up in PATH.
    command: command.includes('/') && !isAbsolute(command) ? join(baseDir, command) : command,
    args: Array.isArray(e['args']) ? e['args'].map(String) : undefined,
    env,
    apiVersion: str(e['apiVersion']),
    provideClusterInfo: e['provideClusterInfo'] === true,
  };
}

/** Whether a file is there; false also where the permission model forbids looking. */
function present(path: string): boolean {
  try {
    return existsSync(path);
  } catch {
    return false;
  }
}

/** The configuration of a Pod's own service account; undefined outside a cluster. */
export function inClusterConfig(dir = SERVICE_ACCOUNT_DIR, env: NodeJS.ProcessEnv = process.env): KubeConfigLike | undefined {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port || !present(join(dir, 'token'))) return undefined;
  const cluster: ClusterInfo = { server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: join(dir, 'ca.crt') };
  const user: UserInfo = { name: 'in-cluster', tokenFile: join(dir, 'token') };
  return { getCurrentCluster: () => cluster, getCurrentUser: () => user, getCurrentContext: () => 'in-cluster' };
}

export interface LoadOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  env?: NodeJS.ProcessEnv;
  home?: string;
  serviceAccountDir?: string;
}

/**
 * No kubeconfig anywhere: loading succeeds (`regcred get` of a provider that reads nothing from the
 * cluster needs none), and every request fails, saying why.
 */
export class NoKubeconfig implements KubeConfigLike {
  constructor(readonly reason: string) {}
  getCurrentCluster(): never {
    throw new Error(this.reason);
  }
  getCurrentUser(): null {
    return null;
  }
  getCurrentContext(): string {
    return '';
  }
}

/**
 * --kubeconfig, else the files in $KUBECONFIG (missing ones skipped, as kubectl does), else
 * ~/.kube/config, else the in-cluster service account, else NoKubeconfig. Throws with a one-line
 * reason for a file that cannot be read or parsed and for an unknown --context.
 */
export function loadKubeconfig(opts: LoadOptions = {}): KubeConfigLike {
  const env = opts.env ?? process.env;
  let files: string[];
  if (opts.kubeconfig) files = [opts.kubeconfig];
  else if (env['KUBECONFIG']) {
    files = env['KUBECONFIG'].split(delimiter).filter((f) => f && present(f));
    if (files.length === 0) throw new Error(`none of the files in KUBECONFIG exist (${env['KUBECONFIG']})`);
  } else {
    const home = join(opts.home ?? homedir(), '.kube', 'config');
    if (present(home)) files = [home];
    else {
      if (opts.context) throw new ContextError(`kubeconfig has no context "${opts.context}": no kubeconfig file found`);
      return inClusterConfig(opts.serviceAccountDir, env) ?? new NoKubeconfig('no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config or run in a Pod');
    }
  }
  const kc = new Kubeconfig();
  for (const f of files) kc.addFile(f);
  if (opts.context) {
    if (!kc.hasContext(opts.context)) throw new ContextError(`kubeconfig has no context "${opts.context}"`);
    kc.useContext(opts.context);
  }
  return kc;
}

/** A --context that the kubeconfig does not define (reported as is, without the "cannot load" prefix). */
export class ContextError extends Error {}
