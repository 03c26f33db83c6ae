// A local moto server (https://github.com/getmoto/moto): a fake AWS API the `ecr` provider tests run
// against. moto is installed from PyPI into a Python venv cached OUTSIDE the repo, under a file lock
// so parallel test files do not both install it:
//   ${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/regcred}/moto-venv-<version>
// Needs python3 with the venv module (Debian: python3-venv; hack/install-deps.sh installs it) and
// flock (util-linux).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './controlplane.js';

export const MOTO_VERSION = '5.2.5';
/** moto's default account: ECR hosts are `123456789012.dkr.ecr.<region>.amazonaws.com`. */
export const MOTO_ACCOUNT = '123456789012';

export interface Moto {
  /** `http://127.0.0.1:<port>`: pass as the SDK's (or the provider's) `endpoint`. */
  endpoint: string;
  stop(): Promise<void>;
}

function cacheRoot(): string {
  return process.env['REGCRED_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'regcred');
}

/** The venv's bin folder; installs moto on a cold cache (a minute or so). */
export function ensureMoto(): string {
  const root = cacheRoot();
  const venv = join(root, `moto-venv-${MOTO_VERSION}`);
  const bin = join(venv, 'bin');
  const done = join(venv, '.installed');
  if (existsSync(done)) return bin;
  mkdirSync(root, { recursive: true });
  // flock serialises installers across processes; the marker file is checked again under the lock.
  const script = [
    'set -euo pipefail',
    `if [ -e "${done}" ]; then exit 0; fi`,
    `echo "[moto] installing moto[server]==${MOTO_VERSION} into ${venv} (first run only; cached after)" >&2`,
    `rm -rf "${venv}"`,
    `python3 -m venv "${venv}" || { echo "[moto] python3 -m venv failed: install python3-venv (hack/install-deps.sh)" >&2; exit 1; }`,
    `"${bin}/pip" install --disable-pip-version-check -q 'moto[server]==${MOTO_VERSION}' >&2`,
    `touch "${done}"`,
  ].join('\n');
  execFileSync('flock', [join(root, 'moto.lock'), 'bash', '-c', script], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
  return bin;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** Starts `moto_server` on a free port of 127.0.0.1 and waits until it answers. */
export async function startMoto(): Promise<Moto> {
  const bin = ensureMoto();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(join(bin, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async (): Promise<void> => {
    if (exited) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  while (!(await answers(`${endpoint}/moto-api/`))) {
    if (exited) throw new Error(`moto_server exited before it answered:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within 60s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { endpoint, stop };
}

// `node dist/test/harness/moto.js`: install only (CI warm-up).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  ensureMoto();
  writeFileSync(process.stderr.fd, `[moto] ready: ${join(cacheRoot(), `moto-venv-${MOTO_VERSION}`)}\n`);
}
