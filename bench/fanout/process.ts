// Running a contender: a command to completion, timed from spawn to exit, its CPU (user + system,
// children included) from /usr/bin/time when there is one. The child running now is killed when the
// benchmark stops early.

import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TIME } from './settings.js';

let currentChild: ReturnType<typeof spawn> | undefined;
let currentTimeFile: string | undefined;

export interface Proc {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  /** User + system CPU of the process and all its children (from /usr/bin/time), if available. */
  cpuSeconds?: number;
}

let timeFiles = 0;
/** Runs a command to completion; the time is from spawn to exit. */
export function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const timeFile = TIME ? join(tmpdir(), `regcred-bench-time-${process.pid}-${++timeFiles}`) : undefined;
  currentTimeFile = timeFile;
  const [file, argv] = TIME && timeFile ? [TIME, ['-f', '%U %S', '-o', timeFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const begin = process.hrtime.bigint();
    const child = spawn(file, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    currentChild = child;
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
      currentChild = undefined;
      const p: Proc = { code: code ?? -1, stdout, stderr, seconds };
      if (timeFile) {
        try {
          const [user, sys] = (readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
          if (Number.isFinite(user) && Number.isFinite(sys)) p.cpuSeconds = user! + sys!;
        } catch {
          // no rusage: the column stays empty
        }
        rmSync(timeFile, { force: true });
      }
      resolve(p);
    });
  });
}

export function must(p: Proc, what: string): Proc {
  if (p.code !== 0) throw new Error(`${what} exited with ${p.code}:\n${(p.stderr || p.stdout).slice(-2000)}`);
  return p;
}

/** Kills the command running now, if any. */
export function killCurrent(): void {
  currentChild?.kill('SIGKILL');
}

/** Removes the rusage file of the command running now, if any (at exit). */
export function removeCurrentTimeFile(): void {
  if (currentTimeFile) rmSync(currentTimeFile, { force: true });
}
