// A small Dockerfile reader for tests that check the Dockerfile without a Docker engine: instructions
// (line continuations and comments handled as Docker does), build stages, ARG expansion, exec-form
// JSON arguments, and the .dockerignore rules (the subset this repository uses).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface Instruction {
  /** Upper-case: FROM, RUN, COPY, ... */
  cmd: string;
  /** The text after the instruction and its --flags, continuations joined with a space. */
  args: string;
  /** --flag=value options (COPY --from=build, FROM --platform=...). */
  flags: Record<string, string>;
  /** Exec form (["a", "b"]) parsed, when the arguments are a JSON array. */
  json?: string[];
  /** 1-based line of the instruction's first line. */
  line: number;
}

export interface Stage {
  /** The image reference as written (before ARG expansion). */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
  /** Every instruction, in order. */
  all: Instruction[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const all: Instruction[] = [];
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    // Comments (and parser directives) are whole lines starting with #, also inside continuations.
    if (trimmed.startsWith('#') || (trimmed === '' && buf === '')) continue;
    if (buf === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += trimmed.slice(0, -1) + ' ';
      continue;
    }
    buf += trimmed;
    all.push(instruction(buf.trim(), start));
    buf = '';
  }
  if (buf.trim()) all.push(instruction(buf.trim(), start));

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of all) {
    if (ins.cmd === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.cmd !== 'ARG') throw new Error(`line ${ins.line}: ${ins.cmd} before the first FROM`);
      const [k, v] = splitArg(ins.args);
      globalArgs[k] = v ?? '';
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { globalArgs, stages, all };
}

function instruction(text: string, line: number): Instruction {
  const m = /^(\S+)\s*(.*)$/s.exec(text)!;
  const cmd = m[1]!.toUpperCase();
  let rest = m[2]!;
  const flags: Record<string, string> = {};
  for (;;) {
    const f = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!f) break;
    flags[f[1]!] = f[2] ?? 'true';
    rest = rest.slice(f[0].length);
  }
  const ins: Instruction = { cmd, args: rest, flags, line };
  if (rest.startsWith('[')) {
    try {
      const parsed = JSON.parse(rest) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) ins.json = parsed;
    } catch {
      // shell form that happens to start with [
    }
  }
  return ins;
}

function splitArg(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text.trim(), undefined] : [text.slice(0, eq).trim(), unquote(text.slice(eq + 1).trim())];
}

function unquote(s: string): string {
  return /^".*"$/.test(s) ? s.slice(1, -1) : s;
}

/** Expands $NAME and ${NAME} as Docker does for ARG / ENV values (no modifiers). */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a: string | undefined, b: string | undefined) => vars[(a ?? b)!] ?? '');
}

/** ENV / LABEL key=value pairs (values optionally double-quoted, pairs separated by spaces). */
export function keyValues(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of args.matchAll(re)) out[m[1]!] = unquote(m[2]!);
  return out;
}

/** Shell-form COPY sources and destination (no quoting or spaces in paths: this repository has none). */
export function copyParts(ins: Instruction): { sources: string[]; dest: string } {
  const words = ins.json ?? ins.args.split(/\s+/).filter(Boolean);
  if (words.length < 2) throw new Error(`line ${ins.line}: COPY needs a source and a destination`);
  return { sources: words.slice(0, -1), dest: words[words.length - 1]! };
}

// ---------------------------------------------------------------------------------------------
// .dockerignore

export interface IgnoreRule {
  negate: boolean;
  pattern: RegExp;
  text: string;
}

/** The rules of a .dockerignore: one pattern a line, `#` comments, `!` re-includes; `*` and `?` within one path segment. */
export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    line = line.replace(/^\/+|\/+$/g, '');
    if (line.includes('**') || line.includes('[')) throw new Error(`.dockerignore pattern not supported by this reader: ${raw}`);
    const re = line
      .split('/')
      .map((seg) => seg.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
      .join('/');
    rules.push({ negate, pattern: new RegExp(`^${re}$`), text: raw.trim() });
  }
  return rules;
}

/** Whether a context-relative path (with / separators) is left out of the build context. */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  // A pattern matching a folder covers everything in it; the last matching rule wins.
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.pattern.test(p))) ignored = !rule.negate;
  }
  return ignored;
}

/** The files of `root` that a build with this .dockerignore sends as context (relative paths, sorted). */
export function contextFiles(root: string, rules: IgnoreRule[]): string[] {
  const out: string[] = [];
  const negations = rules.filter((r) => r.negate);
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, entry.name);
      const rel = relative(root, abs).split(sep).join('/');
      const ignored = isIgnored(rules, rel);
      if (entry.isDirectory()) {
        // An ignored folder is skipped unless a `!` rule could re-include something below it.
        if (ignored && !negations.some((r) => r.text.slice(1).trim().replace(/^\/+/, '').startsWith(`${rel}/`))) continue;
        walk(abs);
      } else if (!ignored) {
        out.push(rel);
      }
    }
  };
  walk(root);
  return out.sort();
}

export function readDockerfile(path: string): Dockerfile {
  return parseDockerfile(readFileSync(path, 'utf8'));
}
