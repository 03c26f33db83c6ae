import { spawn } from 'node:child_process';
import { scrub } from '../../redact.js';

// Running a kubelet credential-provider plugin: no shell, its own process group, exactly the
// environment given, killed (the whole group) after the timeout; stdout capped, stderr excerpted.

const MAX_STDOUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
const STDERR_EXCERPT = 300;

export interface PluginRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  stdoutTooLarge: boolean;
}

/**
 * Runs `command` without a shell, in its own process group, with exactly `env`; writes `input` on
 * stdin. After `timeoutMs` (or when `signal` aborts) the whole group is killed.
 */
export function runPlugin(command: string, args: string[], env: Record<string, string>, input: string, timeoutMs: number, signal?: AbortSignal): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true, shell: false, windowsHide: true });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const errChunks: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let stdoutTooLarge = false;
    let settled = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        try {
          child.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    };
    let forceTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup();
      // A grandchild that left the group may hold the pipes open: do not wait for it forever.
      forceTimer ??= setTimeout(() => finish(null, 'SIGKILL'), 2000);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (code: number | null, sig: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (forceTimer) clearTimeout(forceTimer);
      signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ code, signal: sig, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errChunks).toString('utf8'), timedOut, stdoutTooLarge });
    };
    child.stdout!.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_STDOUT_BYTES) {
        stdoutTooLarge = true;
        stop();
        return;
      }
      out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (errBytes < MAX_STDERR_BYTES) errChunks.push(d.subarray(0, MAX_STDERR_BYTES - errBytes));
      errBytes += d.length;
    });
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code, sig) => finish(code, sig));
    // A plugin that exits without reading stdin: EPIPE is not our error.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
    if (signal?.aborted) stop();
  });
}

/** The end of the plugin's stderr, one line, scrubbed of every registered secret. */
export function stderrExcerpt(stderr: string): string {
  // eslint-disable-next-line no-control-regex
  const lines = scrub(stderr).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let text = lines.slice(-3).join(' / ');
  if (text.length > STDERR_EXCERPT) text = `...${text.slice(-STDERR_EXCERPT)}`;
  return text;
}
