// Reading an admission request within its limits (size, time, a memory budget shared by all
// requests) and answering one that goes beyond them, so the server module is left with routing and
// deciding. The limits themselves are the server's options (server.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** After refusing a request, its unread rest is discarded (not kept) this long and this much at most, then the connection is closed. */
const DRAIN_MS = 2_000;
const DRAIN_BYTES = 8 * 1024 * 1024;

/** A request refused before it is decided: its HTTP status and the metric's result. */
export class Refusal extends Error {
  constructor(
    readonly status: 413 | 429 | 408,
    readonly result: 'too_large' | 'throttled' | 'timeout',
    message: string,
  ) {
    super(message);
  }
}

export interface ReadLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Reserves bytes of the shared in-memory budget; false when it is spent. */
  take(n: number): boolean;
}

/** The client went away before sending its whole request: nothing to answer. */
export class ClientGone extends Error {}

/** Reads the body within the limits; `held.bytes` counts the budget bytes taken (the caller gives them back). */
export function readBody(req: IncomingMessage, limits: ReadLimits, held: { bytes: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      chunks.length = 0;
      req.removeListener('data', onData);
      reject(err);
    };
    const timer = setTimeout(() => fail(new Refusal(408, 'timeout', `request not received within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    const onData = (c: Buffer) => {
      if (held.bytes + c.length > limits.maxBytes) return fail(new Refusal(413, 'too_large', `request body over ${limits.maxBytes} bytes`));
      if (!limits.take(c.length)) return fail(new Refusal(429, 'throttled', 'too many request bytes in flight'));
      held.bytes += c.length;
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', () => fail(new ClientGone()));
    req.on('close', () => fail(new ClientGone()));
  });
}

export function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answers a refused request. Whatever the client still sends is discarded as it arrives, never
 * kept, so that it reads the answer instead of seeing its upload fail (closing at once makes the
 * client's next write fail, often before it has read the status); but for DRAIN_MS and
 * DRAIN_BYTES at most, after which the connection is closed.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    req.destroy();
    return;
  }
  reply(res, refusal.status, { message: refusal.message }, refusal.status === 429 ? { 'Retry-After': '1' } : {});
  if (req.complete) return;
  let discarded = 0;
  const stop = () => {
    clearTimeout(timer);
    req.removeListener('data', count);
  };
  const count = (c: Buffer) => {
    discarded += c.length;
    if (discarded > DRAIN_BYTES) {
      stop();
      req.destroy();
    }
  };
  const timer = setTimeout(() => {
    stop();
    req.destroy();
  }, DRAIN_MS);
  timer.unref();
  req.on('data', count);
  req.once('end', stop);
  req.once('close', stop);
}

/** Request bytes held in memory across all requests at once, up to `max`. */
export class ByteBudget {
  private used = 0;
  constructor(private readonly max: number) {}

  /** Reserves n bytes; false (and nothing reserved) when that would go over the limit. */
  take(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }

  get held(): number {
    return this.used;
  }
}
