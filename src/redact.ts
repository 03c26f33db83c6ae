// Redaction built in: every credential value regcred handles is registered here as soon as it is
// read or minted, and every line regcred prints (logs, errors, summaries) passes through scrub().
// Field-name redaction in the logger is the first line; this is the safety net for values that end
// up inside messages (an error echoing a request body, say).
//
// Bounded on every axis a long-running controller could push, and not flushable by one tenant:
// values are kept per owner (the credential whose minting registered them: registerSecret's
// `owner`, or the one withSecretOwner() runs for; values with neither share one owner). Each owner
// keeps its MAX_PER_OWNER most recent values, so a credential whose source holds thousands of
// entries only pushes out its own older values; past MAX_TOTAL over all owners, the largest owner
// loses its oldest first, and no owner is ever taken below its MIN_KEPT newest (its current
// credential). Values are matched by regular expressions of bounded size (V8 refuses a pattern
// past ~24 KB, and a huge one is slow to build), long values by plain substring search; and
// scrub() fails closed: it never throws, and if matching fails for any reason the whole text is
// withheld.
//
// A short value (under SHORT_FORM characters) is replaced only where it stands alone, not inside a
// longer run of letters and digits: a 4-character password must not blank out every word that
// contains it in everyone's logs.

import { AsyncLocalStorage } from 'node:async_hooks';

const MIN_LENGTH = 4; // shorter strings would scrub ordinary words
/** Forms shorter than this are matched as whole tokens only. */
const SHORT_FORM = 8;
/** Originals kept per owner (each with up to two derived forms). */
const MAX_PER_OWNER = 1024;
/** Originals kept over all owners, beyond each owner's MIN_KEPT. */
const MAX_TOTAL = 8192;
/** The newest values of an owner that the global budget never evicts. */
const MIN_KEPT = 16;
/** Forms at least this long are found with indexOf, not in a regular expression. */
const LONG_FORM = 512;
/** Total pattern length of one regular expression. */
const CHUNK_CHARS = 16_384;
/** The owner of values registered with no owner, outside withSecretOwner. */
const SHARED_OWNER = '';

/** Owner → (original value → its forms: itself, base64, JSON-escaped), each in registration order (oldest first). */
const owners = new Map<string, Map<string, string[]>>();
let total = 0;
let compiled: { long: string[]; patterns: RegExp[]; short: RegExp[] } | undefined;
const currentOwner = new AsyncLocalStorage<string>();

export const REDACTED = '[REDACTED]';
const WITHHELD = '[REDACTED: output withheld, it could not be checked for secrets]';

/**
 * Runs fn (and everything it awaits) with `owner` as the owner of the values registered without
 * one: e.g. a credential's key around its provider's fetch.
 */
export function withSecretOwner<T>(owner: string, fn: () => T): T {
  return currentOwner.run(owner, fn);
}

export function registerSecret(value: string | undefined | null, owner?: string): void {
  if (!value || value.length < MIN_LENGTH) return;
  const key = owner ?? currentOwner.getStore() ?? SHARED_OWNER;
  let bucket = owners.get(key);
  if (!bucket) {
    bucket = new Map();
    owners.set(key, bucket);
  }
  const known = bucket.get(value);
  if (known) {
    // Recently used again: keep it among the owner's newest.
    bucket.delete(value);
    bucket.set(value, known);
    return;
  }
  // Also the forms a value takes when embedded: base64 (auth fields) and JSON-escaped.
  const forms = [value];
  const b64 = Buffer.from(value).toString('base64');
  if (b64.length >= MIN_LENGTH) forms.push(b64);
  const json = JSON.stringify(value).slice(1, -1);
  if (json !== value) forms.push(json);
  bucket.set(value, forms);
  total++;
  // An owner past its own bound pushes out its own oldest value, nobody else's.
  if (bucket.size > MAX_PER_OWNER) evictOldest(bucket);
  while (total > MAX_TOTAL) {
    const largest = largestOwner();
    if (!largest || largest.size <= MIN_KEPT) break;
    evictOldest(largest);
  }
  compiled = undefined;
}

function evictOldest(bucket: Map<string, string[]>): void {
  bucket.delete(bucket.keys().next().value!);
  total--;
}

function largestOwner(): Map<string, string[]> | undefined {
  let largest: Map<string, string[]> | undefined;
  for (const b of owners.values()) if (!largest || b.size > largest.size) largest = b;
  return largest;
}

function compile(): { long: string[]; patterns: RegExp[]; short: RegExp[] } {
  const everyForm = new Set<string>();
  for (const bucket of owners.values()) for (const forms of bucket.values()) for (const f of forms) everyForm.add(f);
  const all = [...everyForm].sort((a, b) => b.length - a.length);
  const long = all.filter((f) => f.length >= LONG_FORM);
  const patterns = chunked(all.filter((f) => f.length < LONG_FORM && f.length >= SHORT_FORM), (alternatives) => alternatives);
  // Not followed by a letter or digit here; not preceded by one is checked as they are replaced
  // (standAlone), where a neighbour just replaced counts as a boundary.
  const short = chunked(all.filter((f) => f.length < SHORT_FORM), (alternatives) => `(?:${alternatives})(?![A-Za-z0-9])`);
  return { long, patterns, short };
}

const ALNUM = /[A-Za-z0-9]/;

/** Replaces the matches of a short-form pattern that do not follow a letter or digit. */
function replaceStandAlone(text: string, pattern: RegExp): string {
  let lastEnd = -1;
  return text.replace(pattern, (match: string, offset: number) => {
    if (offset > 0 && offset !== lastEnd && ALNUM.test(text[offset - 1]!)) return match;
    lastEnd = offset + match.length;
    return REDACTED;
  });
}

/** Regular expressions matching any of the forms, each pattern at most CHUNK_CHARS long. */
function chunked(forms: string[], wrap: (alternatives: string) => string): RegExp[] {
  const patterns: RegExp[] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const form of forms) {
    const escaped = form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (size + escaped.length + 1 > CHUNK_CHARS && chunk.length > 0) {
      patterns.push(new RegExp(wrap(chunk.join('|')), 'g'));
      chunk = [];
      size = 0;
    }
    chunk.push(escaped);
    size += escaped.length + 1;
  }
  if (chunk.length > 0) patterns.push(new RegExp(wrap(chunk.join('|')), 'g'));
  return patterns;
}

export function scrub(text: string): string {
  if (total === 0) return text;
  try {
    compiled ??= compile();
    // Longest first: long forms, then the chunks (each sorted longest first, short forms last), so
    // a value is never partly replaced through a shorter one it contains.
    let out = text;
    for (const form of compiled.long) if (out.includes(form)) out = out.split(form).join(REDACTED);
    for (const p of compiled.patterns) out = out.replace(p, REDACTED);
    // Short forms: again until nothing changes, as replacing one can leave its neighbour standing
    // alone (two adjacent values); a text that keeps changing is withheld.
    for (let pass = 0; compiled.short.length > 0; pass++) {
      if (pass === 8) throw new Error('short forms did not settle');
      let next = out;
      for (const p of compiled.short) next = replaceStandAlone(next, p);
      if (next === out) break;
      out = next;
    }
    return out;
  } catch {
    return WITHHELD;
  }
}

/** For tests: forget every registered value. */
export function resetRegisteredSecrets(): void {
  owners.clear();
  total = 0;
  compiled = undefined;
}

/** For tests: how many values an owner (undefined: the shared one) holds. */
export function registeredCount(owner?: string): number {
  return owners.get(owner ?? SHARED_OWNER)?.size ?? 0;
}
