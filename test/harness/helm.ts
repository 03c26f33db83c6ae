// helm, built from the Go module proxy by test/harness/build-helm.sh and cached outside the repo,
// and the chart of this repository.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { CLI_PATH } from './cli.js';

const HARNESS_DIR = fileURLToPath(new URL('../../../test/harness/', import.meta.url));
export const CHART_DIR = fileURLToPath(new URL('../../../charts/regcred/', import.meta.url));

let cached: string | undefined;
/** The helm binary; builds it on a cold cache (about a minute). */
export function helmPath(): string {
  cached ??= execFileSync('bash', [join(HARNESS_DIR, 'build-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 }).trim();
  return cached;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[], opts: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<HelmResult> {
  const home = mkdtempSync(join(tmpdir(), 'regcred-helm-'));
  return new Promise((resolve, reject) => {
    const child = spawn(helmPath(), [...args, ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : [])], {
      // Its own config/cache/data folders: no state from the machine running the tests.
      env: { ...process.env, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

let valuesDir: string | undefined;
/** Writes a values file (JSON is YAML) and returns its path. */
export function valuesFile(values: unknown): string {
  valuesDir ??= mkdtempSync(join(tmpdir(), 'regcred-values-'));
  const path = join(valuesDir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, JSON.stringify(values, null, 2));
  return path;
}

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: any;
}

/** `helm template` of the chart with these values: its objects (CRDs excluded unless asked). */
export async function renderChart(values: unknown, opts: { release?: string; namespace?: string; includeCrds?: boolean } = {}): Promise<RenderedObject[]> {
  const res = await helm([
    'template',
    opts.release ?? 'rc',
    CHART_DIR,
    '--namespace',
    opts.namespace ?? 'regcred-system',
    '--values',
    valuesFile(values),
    ...(opts.includeCrds ? ['--include-crds'] : []),
  ]);
  if (res.code !== 0) throw new Error(`helm template failed: ${res.stderr}`);
  return parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null && typeof o === 'object' && 'kind' in o);
}

/**
 * The Deployment's container, run as a local process: its node flags and arguments, given kubeconfig.
 * `env` adds to (or overrides) this process's environment, as a Pod's `env` would (e.g.
 * NODE_EXTRA_CA_CERTS for a test double's CA).
 */
export function runLikeDeployment(deployment: RenderedObject, kubeconfig: string, namespace: string, env?: Record<string, string>): { child: ChildProcess; output: string[] } {
  const container = deployment['spec'].template.spec.containers[0] as { command: string[]; args: string[] };
  if (container.command[0] !== 'node' || container.command.at(-1) !== '/app/regcred.mjs') throw new Error(`unexpected command ${JSON.stringify(container.command)}`);
  const flags = container.command.slice(1, -1);
  const args = container.args.map((a) =>
    a === '--namespace=$(POD_NAMESPACE)'
      ? `--namespace=${namespace}`
      : a.startsWith('--metrics-bind-address=')
        ? '--metrics-bind-address=127.0.0.1:0'
        : a.startsWith('--health-probe-bind-address=')
          ? '--health-probe-bind-address=127.0.0.1:0'
          : a,
  );
  const child = spawn(process.execPath, [...flags, CLI_PATH, ...args, '--kubeconfig', kubeconfig], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  return { child, output };
}

export async function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
