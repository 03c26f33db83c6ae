// `regcred controller` as its own process, run from the built bundle exactly as users run it: for
// end-to-end tests that need the real process (its flags, its environment, signals, exit status).
import { spawn, type ChildProcess } from 'node:child_process';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { CLI_PATH } from './cli.js';
import { IMAGE_MEMORY_ENV } from './chart-container.js';
import { assertNoLeak, rememberSecretEnv, watchOutput } from './leak-guard.js';
import type { CredentialStatus } from './test-controller.js';

export interface ControllerProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr), for "no secret in the output" checks. */
  output: string[];
  /** SIGTERM (or another signal); resolves with the exit code, SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export function spawnController(
  kubeconfigPath: string,
  opts: { args?: string[]; env?: Record<string, string>; nodeFlags?: string[]; strictNetwork?: boolean } = {},
): ControllerProcess {
  rememberSecretEnv(opts.env);
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeFlags ?? []),
      CLI_PATH,
      'controller',
      '--kubeconfig',
      kubeconfigPath,
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--health-probe-bind-address',
      '127.0.0.1:0',
      // The doubles listen on loopback, which ClusterRegistryCredentials' calls reach only where the installation allows it.
      ...(opts.strictNetwork ? [] : ['--allowed-cidr', '127.0.0.0/8']),
      ...(opts.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...IMAGE_MEMORY_ENV, ...process.env, ...opts.env } },
  );
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const where = `the output of regcred controller (pid ${child.pid})`;
  watchOutput(where, () => output.join(''));
  const terminate = async (signal: NodeJS.Signals, timeoutMs: number): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    child,
    output,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      const code = await terminate(signal, timeoutMs);
      assertNoLeak(output.join(''), where);
      return code;
    },
  };
}

const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'clusterregistrycredentials';

export async function createClusterCredential(kc: KubeConfig, name: string, spec: Record<string, unknown>): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterRegistryCredential', metadata: { name }, spec },
  });
}

/** Polls a ClusterRegistryCredential's status until `done` holds; returns it. */
export async function waitForClusterCredentialStatus(
  kc: KubeConfig,
  name: string,
  done: (s: CredentialStatus) => boolean,
  timeoutMs = 30_000,
  context: () => string = () => '',
): Promise<CredentialStatus> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + timeoutMs;
  let status: CredentialStatus = {};
  while (Date.now() < deadline) {
    try {
      const obj = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name })) as { status?: CredentialStatus };
      status = obj.status ?? {};
      if (done(status)) return status;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for the status of ClusterRegistryCredential ${name}; last: ${JSON.stringify(status)}\n${context().slice(-3000)}`);
}
