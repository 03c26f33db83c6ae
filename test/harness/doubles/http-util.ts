// What the loopback HTTP doubles share: reading a request body, answering JSON, listening on a free
// loopback port (and stopping), signing the tokens they hand out, and a "fail the next N calls" switch.
import { createHmac } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** The whole request body as UTF-8 text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

/** Answers `body` as JSON (a string is sent as it is, for malformed-answer tests). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Listens on 127.0.0.1 at a free port; the port, and a stop() that drops open connections and closes. */
export async function listenLoopback(server: Server | HttpsServer): Promise<{ port: number; stop(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JWT signed with HMAC-SHA256 (the registry tokens the STS-like doubles mint: only they check them). */
export function signHs256(key: Buffer, claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** Canned failures: failNext(status, body, times) answers the next `times` calls (see answerIfDue). */
export function failureSwitch() {
  let failure: { status: number; body: unknown; times: number } | undefined;
  return {
    failNext(status: number, body: unknown, times = 1): void {
      failure = { status, body, times };
    },
    clearFailures(): void {
      failure = undefined;
    },
    /** Answers with the failure due, if any; true when it did. */
    answerIfDue(answer: (status: number, body: unknown) => void): boolean {
      if (!failure || failure.times <= 0) return false;
      failure.times--;
      answer(failure.status, failure.body);
      return true;
    },
  };
}

/** An answer (sendJson) that also notes its status on the request's record. */
export function recordingAnswer(res: ServerResponse, record: { status: number }): (status: number, body: unknown) => void {
  return (status, body) => {
    record.status = status;
    sendJson(res, status, body);
  };
}

/** A double that takes service-account tokens and hands out registry tokens (Chainguard's STS, Quay's robot federation). */
export interface TokenExchangeDouble {
  /** Every service-account token received, for "never printed" checks. */
  bearers: string[];
  /** Every registry token handed out. */
  issued: string[];
  /** Answers the next `times` calls with this status and body (for error tests). */
  failNext(status: number, body: unknown, times?: number): void;
  clearFailures(): void;
  stop(): Promise<void>;
}
