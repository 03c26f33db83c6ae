// A real Kubernetes control plane for tests: etcd, kube-apiserver (RBAC, TokenRequest) and
// kube-controller-manager (namespace, service-account, garbage-collector, clusterrole-aggregation
// controllers), on free loopback ports in a temp folder, the way controller-runtime's envtest runs
// them. Binaries come from build-controlplane.sh (built once from the Go module proxy, cached), or
// from $REGCRED_TEST_BINARIES.

import { AssertionError } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { rememberSecret, scanCapturedOutputs, scanClusterForLeaks } from './leak-guard.js';

export interface ControlPlane {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The service-account token issuer (and its JWKS at `${server}/openid/v1/jwks`). */
  issuer: string;
  caPath: string;
  dir: string;
  stop(): Promise<void>;
  /** Stops and starts kube-apiserver alone (etcd keeps the data), waiting until it is ready again. */
  restartApiServer(opts?: RestartOptions): Promise<void>;
  /**
   * Stops etcd (SIGTERM), waits `pauseMs`, starts it again on the same ports and data folder, then
   * waits until etcd and kube-apiserver (which stays up, failing requests meanwhile) are ready again.
   */
  restartEtcd(opts?: RestartOptions): Promise<void>;
  /** Mints a service-account token with the TokenRequest API, creating the service account if needed. */
  tokenFor(namespace: string, serviceAccount: string, audiences?: string[], expirationSeconds?: number): Promise<string>;
  /** A kubeconfig for a restricted identity (a service account's token): bind it a Role to let it do things. */
  kubeconfigFor(namespace: string, serviceAccount: string): Promise<string>;
}

export interface StartOptions {
  /** Let anonymous clients read the OIDC discovery document and JWKS (for test doubles). */
  publicIssuerDiscovery?: boolean;
  /** Extra kube-apiserver flags. */
  apiServerFlags?: string[];
}

export interface RestartOptions {
  /** How long the component stays down between its exit and its start (default 0). */
  pauseMs?: number;
  /** SIGKILL instead of SIGTERM: no graceful shutdown. */
  kill?: boolean;
}

const HARNESS_DIR = fileURLToPath(new URL('../../../test/harness/', import.meta.url));

/** The folder holding etcd, kube-apiserver and kube-controller-manager; builds them on a cold cache. */
export function controlPlaneBinaries(): string {
  const out = execFileSync('bash', [join(HARNESS_DIR, 'build-controlplane.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  const dir = out.trim().split('\n').pop();
  if (!dir) throw new Error('build-controlplane.sh printed no folder');
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, a serving certificate for 127.0.0.1/localhost, and an admin client certificate (system:masters). */
function generateCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=regcred-test-ca'], dir);
  writeFileSync(join(dir, 'serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '2', '-extfile', 'serving.ext'], dir);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', ...ec, '-keyout', 'admin.key', '-out', 'admin.csr', '-subj', '/O=system:masters/CN=admin'], dir);
  openssl(['x509', '-req', '-in', 'admin.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'admin.crt', '-days', '2', '-extfile', 'client.ext'], dir);
  // The service-account signing key: RSA, so any JWT library can verify tokens against the JWKS.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
}

function kubeconfigYaml(server: string, caPath: string, user: Record<string, string>): string {
  const userLines = Object.entries(user)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ${server}
    certificate-authority: ${JSON.stringify(caPath)}
users:
- name: user
  user:
${userLines}
contexts:
- name: local
  context: {cluster: local, user: user}
current-context: local
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, proc?: ChildProcess, logPath?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) {
      throw new Error(`${what} exited with ${proc.exitCode}${logPath ? `:\n${tail(logPath)}` : ''}`);
    }
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${logPath ? `:\n${tail(logPath)}` : ''}`);
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function httpsOk(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { ...tls, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function launch(bin: string, args: string[], logPath: string): ChildProcess {
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

async function terminate(child: ChildProcess | undefined, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that crashes must not leave servers behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
    // Killed from outside (Ctrl-C, a timeout): take the servers down too, then die as signalled.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        for (const c of running) c.kill('SIGKILL');
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    }
  }
  return child;
}

/**
 * The leak scan of the cluster (and of every watched output), run before the control plane stops:
 * the leak found, if any. An API server that is down or failing only skips the cluster part.
 */
async function leakScan(kc: KubeConfig, server: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<Error | undefined> {
  try {
    if (await httpsOk(`${server}/readyz`, tls)) await scanClusterForLeaks(kc);
    else scanCapturedOutputs();
    return undefined;
  } catch (err) {
    if (err instanceof AssertionError) return err;
    // Unreachable or failing mid-scan: the outputs can still be checked.
    try {
      scanCapturedOutputs();
      return undefined;
    } catch (outputLeak) {
      return outputLeak as Error;
    }
  }
}

export async function start(opts: StartOptions = {}): Promise<ControlPlane> {
  const bin = controlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'regcred-cp-'));
  generateCertificates(dir);
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const caPath = join(dir, 'ca.crt');
  const tls = { ca: readFileSync(caPath), cert: readFileSync(join(dir, 'admin.crt')), key: readFileSync(join(dir, 'admin.key')) };

  const etcdLog = join(dir, 'etcd.log');
  let etcd: ChildProcess | undefined;
  const startEtcd = async () => {
    etcd = track(
      launch(
        join(bin, 'etcd'),
        [
          '--data-dir', join(dir, 'etcd'),
          '--listen-client-urls', `http://127.0.0.1:${etcdClient}`,
          '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
          '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
          '--initial-cluster', `default=http://127.0.0.1:${etcdPeer}`,
          '--unsafe-no-fsync', // tests only: no durability needed
          '--log-level', 'warn',
        ],
        etcdLog,
      ),
    );
    await waitFor('etcd', 30_000, () => httpOk(`http://127.0.0.1:${etcdClient}/health`), etcd, etcdLog);
  };
  await startEtcd();

  const apiLog = join(dir, 'kube-apiserver.log');
  const apiArgs = [
    '--etcd-servers', `http://127.0.0.1:${etcdClient}`,
    '--cert-dir', join(dir, 'certs'),
    '--tls-cert-file', join(dir, 'apiserver.crt'),
    '--tls-private-key-file', join(dir, 'apiserver.key'),
    '--client-ca-file', caPath,
    '--secure-port', String(apiPort),
    '--bind-address', '127.0.0.1',
    '--advertise-address', '127.0.0.1',
    '--service-cluster-ip-range', '10.0.0.0/24',
    '--authorization-mode', 'RBAC',
    '--service-account-issuer', server,
    '--service-account-key-file', join(dir, 'sa.pub'),
    '--service-account-signing-key-file', join(dir, 'sa.key'),
    '--allow-privileged=true',
    '--endpoint-reconciler-type', 'none',
    '--v', '1',
    ...(opts.apiServerFlags ?? []),
  ];
  let apiserver: ChildProcess | undefined;
  const startApiServer = async () => {
    apiserver = track(launch(join(bin, 'kube-apiserver'), apiArgs, apiLog));
    await waitFor('kube-apiserver', 60_000, () => httpsOk(`${server}/readyz`, tls), apiserver, apiLog);
  };
  await startApiServer();

  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  writeFileSync(
    kubeconfigPath,
    kubeconfigYaml(server, caPath, { 'client-certificate': join(dir, 'admin.crt'), 'client-key': join(dir, 'admin.key') }),
  );
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);

  const kcmLog = join(dir, 'kube-controller-manager.log');
  const kcm = track(
    launch(
      join(bin, 'kube-controller-manager'),
      [
        '--kubeconfig', kubeconfigPath,
        '--leader-elect=false',
        '--secure-port', '0',
        '--use-service-account-credentials=false',
        '--service-account-private-key-file', join(dir, 'sa.key'),
        '--root-ca-file', caPath,
        '--controllers',
        'namespace-controller,serviceaccount-controller,garbage-collector-controller,clusterrole-aggregation-controller,root-ca-certificate-publisher-controller,serviceaccount-token-controller',
        '--concurrent-namespace-syncs', '10',
        '--v', '1',
      ],
      kcmLog,
    ),
  );
  // Ready when the controller-manager has created the default service account of "default".
  await waitFor(
    'kube-controller-manager',
    60_000,
    async () => {
      await core.readNamespacedServiceAccount({ namespace: 'default', name: 'default' });
      return true;
    },
    kcm,
    kcmLog,
  );

  if (opts.publicIssuerDiscovery) {
    await kubeConfig.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: 'regcred-test-public-issuer-discovery' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
      },
    });
  }

  const ensureServiceAccount = async (namespace: string, name: string) => {
    try {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    try {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  };

  const tokenFor = async (namespace: string, serviceAccount: string, audiences?: string[], expirationSeconds = 3600) => {
    await ensureServiceAccount(namespace, serviceAccount);
    const res = await core.createNamespacedServiceAccountToken({
      namespace,
      name: serviceAccount,
      body: { spec: { audiences: audiences ?? [], expirationSeconds } },
    });
    const token = res.status?.token;
    if (!token) throw new Error('TokenRequest returned no token');
    rememberSecret(token);
    return token;
  };

  let stopped = false;
  return {
    kubeconfigPath,
    kubeConfig,
    server,
    issuer: server,
    caPath,
    dir,
    tokenFor,
    async kubeconfigFor(namespace, serviceAccount) {
      const token = await tokenFor(namespace, serviceAccount, undefined, 24 * 3600);
      const path = join(dir, `${namespace}.${serviceAccount}.kubeconfig`);
      writeFileSync(path, kubeconfigYaml(server, caPath, { token }));
      return path;
    },
    async restartApiServer(ropts: RestartOptions = {}) {
      await terminate(apiserver, 5000, ropts.kill ? 'SIGKILL' : 'SIGTERM');
      if (ropts.pauseMs) await sleep(ropts.pauseMs);
      await startApiServer();
    },
    async restartEtcd(ropts: RestartOptions = {}) {
      await terminate(etcd, 5000, ropts.kill ? 'SIGKILL' : 'SIGTERM');
      if (ropts.pauseMs) await sleep(ropts.pauseMs);
      await startEtcd();
      await waitFor('kube-apiserver (after the etcd restart)', 60_000, () => httpsOk(`${server}/readyz`, tls), apiserver, apiLog);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const leak = await leakScan(kubeConfig, server, tls);
      await terminate(kcm);
      await terminate(apiserver);
      await terminate(etcd);
      if (!process.env['REGCRED_KEEP_CONTROLPLANE']) rmSync(dir, { recursive: true, force: true });
      // After the shutdown, so a leak fails the `after` hook without leaving servers behind.
      if (leak) throw leak;
    },
  };
}
