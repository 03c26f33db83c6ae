import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { credentialObject, objectRef, type CredentialObject } from './schema.js';

/** One problem in a config file, located by file, document and field path. */
export interface ConfigError {
  file: string;
  document: number; // 1-based
  object?: string; // Kind/name when known
  path: string; // "spec.target.namespaces.selector", or "" for the document itself
  message: string;
}

export function formatConfigError(e: ConfigError): string {
  const where = [e.file, e.document > 0 ? `document ${e.document}` : undefined, e.object].filter(Boolean).join(': ');
  // One line, always: names and keys from the file may hold line breaks; show them escaped.
  return `${where}: ${e.path ? `${e.path}: ` : ''}${e.message}`.replace(/[\r\n\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export interface LoadedCredential {
  file: string;
  document: number;
  object: CredentialObject;
}

export interface LoadResult {
  credentials: LoadedCredential[];
  errors: ConfigError[];
}

/** Renders a zod issue path the way kubectl does: spec.target.namespaces.names[2]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

export function issuesToErrors(issues: readonly z.core.$ZodIssue[], base: Omit<ConfigError, 'path' | 'message'>): ConfigError[] {
  return issues.map((i) => ({ ...base, path: formatPath(i.path), message: i.message }));
}

/** Parses one file's text: every YAML document must be a credential object. */
export function parseConfigText(text: string, file: string): LoadResult {
  const result: LoadResult = { credentials: [], errors: [] };
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  let index = 0;
  for (const doc of list) {
    index++;
    const syntaxError = doc.errors[0];
    if (syntaxError) {
      // One line per document: the first error; the rest usually follow from it.
      const pos = syntaxError.linePos?.[0];
      const text = syntaxError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      result.errors.push({
        file,
        document: index,
        path: '',
        message: `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${text}`,
      });
      continue;
    }
    let value: unknown;
    try {
      // Unresolved aliases and alias bombs surface here, not as syntax errors.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
      result.errors.push({ file, document: index, path: '', message: `YAML error: ${first}` });
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document ("---" at the end)
    if (typeof value !== 'object' || Array.isArray(value)) {
      result.errors.push({ file, document: index, path: '', message: 'must be a mapping with apiVersion, kind, metadata and spec' });
      continue;
    }
    const raw = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    const object =
      typeof raw.kind === 'string' && typeof raw.metadata?.name === 'string'
        ? objectRef({ kind: raw.kind, metadata: { name: raw.metadata.name, namespace: typeof raw.metadata.namespace === 'string' ? raw.metadata.namespace : undefined } })
        : undefined;
    const parsed = credentialObject.safeParse(value);
    if (!parsed.success) {
      result.errors.push(...issuesToErrors(parsed.error.issues, { file, document: index, ...(object ? { object } : {}) }));
      continue;
    }
    result.credentials.push({ file, document: index, object: parsed.data });
  }
  return result;
}

/** Loads every file; reports all problems at once, and duplicate objects across files. */
export async function loadConfigFiles(files: readonly string[]): Promise<LoadResult> {
  const result: LoadResult = { credentials: [], errors: [] };
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      result.errors.push({ file, document: 0, path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? 'error'})` });
      continue;
    }
    const one = parseConfigText(text, file);
    result.credentials.push(...one.credentials);
    result.errors.push(...one.errors);
  }
  const seen = new Map<string, LoadedCredential>();
  for (const c of result.credentials) {
    const ref = objectRef(c.object);
    const first = seen.get(ref);
    if (first) {
      result.errors.push({
        file: c.file,
        document: c.document,
        object: ref,
        path: 'metadata.name',
        message: `duplicates ${first.file} document ${first.document}`,
      });
    } else seen.set(ref, c);
  }
  if (result.errors.length === 0 && result.credentials.length === 0) {
    result.errors.push({ file: files.join(', '), document: 0, path: '', message: 'contains no credential objects' });
  }
  return result;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
