// Unit tests for src/webhook/request-limits.ts: reading a request body within its limits, on a
// plain stream standing in for the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { ByteBudget, ClientGone, readBody, Refusal } from '../../src/webhook/request-limits.js';

const request = () => new PassThrough();
const asRequest = (s: PassThrough) => s as unknown as IncomingMessage;

test('ByteBudget: takes up to its limit, refuses past it without reserving, and gets bytes back', () => {
  const budget = new ByteBudget(10);
  assert.equal(budget.take(6), true);
  assert.equal(budget.take(5), false);
  assert.equal(budget.held, 6, 'a refused take reserves nothing');
  assert.equal(budget.take(4), true);
  budget.give(10);
  assert.equal(budget.held, 0);
});

test('readBody: the whole body as text, every byte counted in held', async () => {
  const req = request();
  const held = { bytes: 0 };
  const budget = new ByteBudget(100);
  const body = readBody(asRequest(req), { maxBytes: 100, timeoutMs: 5_000, take: (n) => budget.take(n) }, held);
  req.write('{"a":');
  req.end('1}');
  assert.equal(await body, '{"a":1}');
  assert.equal(held.bytes, 7);
  assert.equal(budget.held, 7);
});

test('readBody: past maxBytes is a 413, a spent budget a 429', async () => {
  const big = request();
  const tooLarge = readBody(asRequest(big), { maxBytes: 4, timeoutMs: 5_000, take: () => true }, { bytes: 0 });
  big.write('12345');
  await assert.rejects(tooLarge, (err: unknown) => err instanceof Refusal && err.status === 413 && err.result === 'too_large');

  const held = { bytes: 0 };
  const spent = request();
  const throttled = readBody(asRequest(spent), { maxBytes: 100, timeoutMs: 5_000, take: () => false }, held);
  spent.write('1');
  await assert.rejects(throttled, (err: unknown) => err instanceof Refusal && err.status === 429 && err.result === 'throttled');
  assert.equal(held.bytes, 0, 'nothing held when the budget refused');
});

test('readBody: a body not finished in time is a 408; a client that goes away is ClientGone', async () => {
  const slow = request();
  const timedOut = readBody(asRequest(slow), { maxBytes: 100, timeoutMs: 10, take: () => true }, { bytes: 0 });
  slow.write('{');
  await assert.rejects(timedOut, (err: unknown) => err instanceof Refusal && err.status === 408 && err.result === 'timeout');

  const gone = request();
  const closed = readBody(asRequest(gone), { maxBytes: 100, timeoutMs: 5_000, take: () => true }, { bytes: 0 });
  gone.destroy();
  await assert.rejects(closed, (err: unknown) => err instanceof ClientGone);
});
