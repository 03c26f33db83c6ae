import { spawn } from 'node:child_process';
import type { ClusterInfo, ExecConfig } from './config.js';

// A kubeconfig `exec` credential plugin (aws eks get-token, gke-gcloud-auth-plugin, kubelogin...),
// run the way client-go runs it: never interactive, KUBERNETES_EXEC_INFO describing the request,
// the ExecCredential it prints kept until its expirationTimestamp (for the life of the process when
// it has none, until the API server answers 401), one run at a time.

export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
/** A plugin that runs longer is killed: a hung plugin must not hold every API request. */
const RUN_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 1 << 20;

export interface ExecCredential {
  token?: string | undefined;
  /** PEM */
  clientCertificateData?: string | undefined;
  clientKeyData?: string | undefined;
  /** Epoch ms; undefined: valid until the API server refuses it. */
  expiresAt?: number | undefined;
}

export interface PluginRun {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs the command; injectable for tests. */
export type RunPlugin = (command: string, args: string[], env: NodeJS.ProcessEnv) => Promise<PluginRun>;

export const runPlugin: RunPlugin = (command, args, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.length > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });

export class ExecPlugin {
  private cached: ExecCredential | undefined;
  private running: Promise<ExecCredential> | undefined;

  constructor(
    private readonly config: ExecConfig,
    private readonly cluster: ClusterInfo,
    private readonly opts: { run?: RunPlugin; now?: () => number; env?: NodeJS.ProcessEnv } = {},
  ) {
    if (!EXEC_API_VERSIONS.includes(config.apiVersion as (typeof EXEC_API_VERSIONS)[number])) {
      throw new Error(`exec plugin ${config.command}: apiVersion "${config.apiVersion ?? ''}" is not supported (${EXEC_API_VERSIONS.join(', ')})`);
    }
  }

  /** The current credential: the cached one while it is valid, else a fresh run. */
  async get(): Promise<ExecCredential> {
    const now = (this.opts.now ?? Date.now)();
    if (this.cached && (this.cached.expiresAt === undefined || this.cached.expiresAt > now)) return this.cached;
    this.running ??= this.run().finally(() => (this.running = undefined));
    this.cached = await this.running;
    return this.cached;
  }

  /** The API server refused the credential (401): the next get() runs the plugin again. */
  invalidate(): void {
    this.cached = undefined;
  }

  private async run(): Promise<ExecCredential> {
    const { command, args, env, apiVersion, provideClusterInfo } = this.config;
    const info: Record<string, unknown> = { apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
    if (provideClusterInfo) {
      const c = this.cluster;
      (info['spec'] as Record<string, unknown>)['cluster'] = {
        server: c.server,
        ...(c.caData ? { 'certificate-authority-data': c.caData } : {}),
        ...(c.tlsServerName ? { 'tls-server-name': c.tlsServerName } : {}),
        ...(c.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
      };
    }
    const childEnv: NodeJS.ProcessEnv = { ...(this.opts.env ?? process.env), KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    for (const { name, value } of env ?? []) childEnv[name] = value;
    const what = `exec plugin ${command}`;
    const r = await (this.opts.run ?? runPlugin)(command, args ?? [], childEnv);
    if (r.code !== 0) throw new Error(`${what} exited with ${r.code ?? 'a signal'}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    let out: { apiVersion?: unknown; status?: Record<string, unknown> };
    try {
      out = JSON.parse(r.stdout) as typeof out;
    } catch {
      throw new Error(`${what} printed no ExecCredential JSON`);
    }
    if (out.apiVersion !== undefined && out.apiVersion !== apiVersion) throw new Error(`${what} answered ${String(out.apiVersion)}, configured for ${apiVersion}`);
    const s = out.status ?? {};
    const cred: ExecCredential = {
      token: typeof s['token'] === 'string' && s['token'] ? s['token'] : undefined,
      clientCertificateData: typeof s['clientCertificateData'] === 'string' ? s['clientCertificateData'] : undefined,
      clientKeyData: typeof s['clientKeyData'] === 'string' ? s['clientKeyData'] : undefined,
    };
    if (!cred.token && !(cred.clientCertificateData && cred.clientKeyData)) throw new Error(`${what} returned neither a token nor a client certificate and key`);
    if (typeof s['expirationTimestamp'] === 'string') {
      const at = Date.parse(s['expirationTimestamp']);
      if (Number.isNaN(at)) throw new Error(`${what}: expirationTimestamp "${s['expirationTimestamp']}" is not a time`);
      cred.expiresAt = at;
    }
    return cred;
  }
}
