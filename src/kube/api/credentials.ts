import { readFileSync } from 'node:fs';
import { registerSecret } from '../../redact.js';
import type { KubeConfigLike, UserInfo } from './config.js';
import { ExecPlugin, type RunPlugin } from './exec-plugin.js';

// What each request to the API server carries: the server's URL, the TLS material of the
// connection (CA, client certificate) and the Authorization header. Resolved from the kubeconfig
// once, then again every minute, so rotated files (a projected service-account token, renewed
// certificates) are picked up the way client-go picks them up; an exec plugin's credential is
// kept until it expires; a 401 from the API server drops what was cached at once.

const REFRESH_MS = 60_000;

export interface TlsMaterial {
  ca?: Buffer | undefined;
  cert?: Buffer | string | undefined;
  key?: Buffer | string | undefined;
  /** false only with insecure-skip-tls-verify; undefined leaves Node's default. */
  rejectUnauthorized?: boolean | undefined;
  servername?: string | undefined;
}

export interface ResolvedCredentials {
  server: URL;
  tls: TlsMaterial;
  headers: Record<string, string>;
}

export interface CredentialOptions {
  now?: () => number;
  runPlugin?: RunPlugin;
}

export class Credentials {
  private cached: { value: ResolvedCredentials; until: number } | undefined;
  private pending: Promise<ResolvedCredentials> | undefined;
  /** One plugin per exec configuration seen (the kubeconfig object may switch contexts). */
  private readonly plugins = new Map<string, ExecPlugin>();

  constructor(
    private readonly source: KubeConfigLike,
    private readonly opts: CredentialOptions = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  current(): Promise<ResolvedCredentials> {
    if (this.cached && this.now() < this.cached.until) return Promise.resolve(this.cached.value);
    this.pending ??= this.resolve().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** The API server answered 401: read the files and run the plugin again on the next request. */
  invalidate(): void {
    this.cached = undefined;
    for (const p of this.plugins.values()) p.invalidate();
  }

  private async resolve(): Promise<ResolvedCredentials> {
    const cluster = this.source.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const user: UserInfo = this.source.getCurrentUser() ?? {};
    if (cluster.proxyUrl) throw new Error(`kubeconfig: proxy-url (${cluster.proxyUrl}) is not supported`);
    let server: URL;
    try {
      server = new URL(cluster.server);
    } catch {
      throw new Error(`kubeconfig: server "${cluster.server}" is not a URL`);
    }
    const tls: TlsMaterial = {
      ca: material(cluster.caData, cluster.caFile, 'certificate-authority'),
      cert: material(user.certData, user.certFile, 'client-certificate'),
      key: material(user.keyData, user.keyFile, 'client-key'),
      ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    };
    const headers: Record<string, string> = {};
    let until = this.now() + REFRESH_MS;
    if (user.exec) {
      const key = JSON.stringify([user.exec, cluster.server]);
      let plugin = this.plugins.get(key);
      if (!plugin) this.plugins.set(key, (plugin = new ExecPlugin(user.exec, cluster, { now: () => this.now(), ...(this.opts.runPlugin ? { run: this.opts.runPlugin } : {}) })));
      const cred = await plugin.get();
      if (cred.token) headers['Authorization'] = `Bearer ${cred.token}`;
      if (cred.clientCertificateData && cred.clientKeyData) {
        tls.cert = cred.clientCertificateData;
        tls.key = cred.clientKeyData;
      }
      if (cred.expiresAt !== undefined) until = Math.min(until, cred.expiresAt);
      registerSecret(cred.token, 'kubeconfig');
    } else {
      const token = bearerToken(user);
      if (token) headers['Authorization'] = `Bearer ${token}`;
      else if (user.username) headers['Authorization'] = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
      registerSecret(token, 'kubeconfig');
      registerSecret(user.password, 'kubeconfig');
    }
    if (user.impersonateUser) headers['Impersonate-User'] = user.impersonateUser;
    const value = { server, tls, headers };
    this.cached = { value, until };
    return value;
  }
}

function bearerToken(user: UserInfo): string | undefined {
  if (user.token) return user.token;
  const file = user.tokenFile ?? user.authProvider?.config?.['tokenFile'];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new Error(`kubeconfig: cannot read the token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const provider = user.authProvider;
  if (provider?.name === 'oidc' && provider.config?.['id-token']) return provider.config['id-token'];
  if (provider?.name) throw new Error(`kubeconfig: auth-provider "${provider.name}" is not supported; use an exec credential plugin`);
  return undefined;
}

/** Inline base64 data, else the file's bytes, else nothing. */
function material(data: string | null | undefined, file: string | null | undefined, what: string): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`kubeconfig: cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
