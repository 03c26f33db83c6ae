// Redaction built in: every credential value regcred handles is registered here as soon as it is
// read or minted, and every line regcred prints (logs, errors, summaries) passes through scrub().
// Field-name redaction in the logger is the first line; this is the safety net for values that end
// up inside messages (an error echoing a request body, say).
//
// Bounded on every axis a long-running controller could push: the most recent MAX_SECRETS values
// are kept (older ones are expired tokens nobody logs any more); values are matched by regular
// expressions of bounded size (V8 refuses a pattern past ~24 KB, and a huge one is slow to build),
// long values by plain substring search; and scrub() fails closed: it never throws, and if matching
// fails for any reason the whole text is withheld.

const MIN_LENGTH = 4; // shorter strings would scrub ordinary words
/** Originals kept (each with up to two derived forms). */
const MAX_SECRETS = 4096;
/** Forms at least this long are found with indexOf, not in a regular expression. */
const LONG_FORM = 512;
/** Total pattern length of one regular expression. */
const CHUNK_CHARS = 16_384;

/** Original value → its forms (itself, base64, JSON-escaped), in registration order (oldest first). */
const secrets = new Map<string, string[]>();
let compiled: { patterns: RegExp[]; long: string[] } | undefined;

export const REDACTED = '[REDACTED]';
const WITHHELD = '[REDACTED: output withheld, it could not be checked for secrets]';

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LENGTH) return;
  if (secrets.has(value)) {
    // Recently used again: keep it among the newest.
    const forms = secrets.get(value)!;
    secrets.delete(value);
    secrets.set(value, forms);
    return;
  }
  // Also the forms a value takes when embedded: base64 (auth fields) and JSON-escaped.
  const forms = [value];
  const b64 = Buffer.from(value).toString('base64');
  if (b64.length >= MIN_LENGTH) forms.push(b64);
  const json = JSON.stringify(value).slice(1, -1);
  if (json !== value) forms.push(json);
  secrets.set(value, forms);
  while (secrets.size > MAX_SECRETS) secrets.delete(secrets.keys().next().value!);
  compiled = undefined;
}

function compile(): { patterns: RegExp[]; long: string[] } {
  const all = [...new Set([...secrets.values()].flat())].sort((a, b) => b.length - a.length);
  const long = all.filter((f) => f.length >= LONG_FORM);
  const patterns: RegExp[] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const form of all.filter((f) => f.length < LONG_FORM)) {
    const escaped = form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (size + escaped.length + 1 > CHUNK_CHARS && chunk.length > 0) {
      patterns.push(new RegExp(chunk.join('|'), 'g'));
      chunk = [];
      size = 0;
    }
    chunk.push(escaped);
    size += escaped.length + 1;
  }
  if (chunk.length > 0) patterns.push(new RegExp(chunk.join('|'), 'g'));
  return { patterns, long };
}

export function scrub(text: string): string {
  if (secrets.size === 0) return text;
  try {
    compiled ??= compile();
    // Longest first: long forms, then the chunks (each sorted longest first), so a value is never
    // partly replaced through a shorter one it contains.
    let out = text;
    for (const form of compiled.long) if (out.includes(form)) out = out.split(form).join(REDACTED);
    for (const p of compiled.patterns) out = out.replace(p, REDACTED);
    return out;
  } catch {
    return WITHHELD;
  }
}

/** For tests: forget every registered value. */
export function resetRegisteredSecrets(): void {
  secrets.clear();
  compiled = undefined;
}
