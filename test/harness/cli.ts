// Runs the built CLI as a user would, capturing exit status and output.
import { AssertionError } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLeaks, rememberSecretEnv, watchOutput } from './leak-guard.js';

// The bundle users run (npx regcred, the container image), built by `npm run build`.
export const CLI_PATH = fileURLToPath(new URL('../../regcred.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Every byte the CLI printed in this process's tests, for the "no secret in any output" checks. */
export const allCliOutput: string[] = [];

/**
 * What of a run's output must never hold a secret: stderr always; stdout unless the command is
 * `get`, whose stdout is the credential by design.
 */
function scannedOutput(args: readonly string[], stdout: string, stderr: string): string {
  return commandOf(args) === 'get' ? stderr : `${stdout}\n${stderr}`;
}

const COMMANDS = new Set(['get', 'sync', 'validate', 'controller', 'version']);

/** The subcommand run (named in leak reports instead of the whole command line). */
function commandOf(args: readonly string[]): string {
  return args.find((a) => COMMANDS.has(a)) ?? 'with no command';
}

export function runCli(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  rememberSecretEnv(opts.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      allCliOutput.push(stdout, stderr);
      const scanned = scannedOutput(args, stdout, stderr);
      const where = `the output of regcred ${commandOf(args)}`;
      // Secrets remembered later (the cluster's, at the control plane's stop) are checked then.
      watchOutput(where, () => scanned);
      const leaks = findLeaks(scanned);
      if (leaks.length > 0) reject(new AssertionError({ message: `secret leaked in ${where}: ${leaks.join(', ')}` }));
      else resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

let configDir: string | undefined;
let configCount = 0;
/** Writes a config file into a temp folder and returns its path. */
export function writeConfig(yaml: string, name?: string): string {
  configDir ??= mkdtempSync(join(tmpdir(), 'regcred-cfg-'));
  const path = join(configDir, name ?? `config-${++configCount}.yaml`);
  writeFileSync(path, yaml);
  return path;
}
