// Redaction built in: every credential value regcred handles is registered here as soon as it is
// read or minted, and every line regcred prints (logs, errors, summaries) passes through scrub().
// Field-name redaction in the logger is the first line; this is the safety net for values that end
// up inside messages (an error echoing a request body, say).

const MIN_LENGTH = 4; // shorter strings would scrub ordinary words
const secrets = new Set<string>();
let pattern: RegExp | undefined;

export const REDACTED = '[REDACTED]';

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  // Also the forms a value takes when embedded: base64 (auth fields) and JSON-escaped.
  const b64 = Buffer.from(value).toString('base64');
  if (b64.length >= MIN_LENGTH) secrets.add(b64);
  const json = JSON.stringify(value).slice(1, -1);
  if (json !== value) secrets.add(json);
  pattern = undefined;
}

export function scrub(text: string): string {
  if (secrets.size === 0) return text;
  if (!pattern) {
    const alternatives = [...secrets]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    pattern = new RegExp(alternatives.join('|'), 'g');
  }
  return text.replace(pattern, REDACTED);
}

/** For tests: forget every registered value. */
export function resetRegisteredSecrets(): void {
  secrets.clear();
  pattern = undefined;
}
