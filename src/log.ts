import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { scrub } from './redact.js';

export type LogFormat = 'json' | 'text';
export type { Logger };

// Field names that never reach the output with their value, wherever they sit.
const REDACT_PATHS = [
  'password',
  'token',
  'auth',
  'secret',
  'accessToken',
  'secretAccessKey',
  '*.password',
  '*.token',
  '*.auth',
  '*.secret',
  '*.accessToken',
  '*.secretAccessKey',
  'headers.authorization',
  '*.headers.authorization',
];

/** A pino destination that scrubs registered secret values and optionally renders text lines. */
class ScrubbingStream extends Writable {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly format: LogFormat,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    // Never fail the stream: an error here would end logging for the rest of the process.
    try {
      const line = scrub(chunk.toString('utf8'));
      this.out.write(this.format === 'text' ? renderText(line) : line);
    } catch {
      this.out.write('{"level":50,"msg":"a log line could not be written"}\n');
    }
    done();
  }
}

// A small text renderer instead of pino-pretty: one dependency less, and it runs in-process so the
// scrubbing above applies to exactly what is printed.
export function renderText(jsonLine: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const { level, time, msg, pid: _pid, hostname: _host, ...rest } = rec;
  const when = typeof time === 'number' ? new Date(time).toISOString() : '';
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${when} ${String(level).toUpperCase()} ${String(msg ?? '')}${fields ? ' ' + fields : ''}\n`;
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  format?: LogFormat;
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = new ScrubbingStream(opts.destination ?? process.stderr, opts.format ?? 'text');
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that drops everything (unit tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
