// Unit tests for src/log.ts: field redaction, value scrubbing and the two output formats.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { createLogger, renderText, type LoggerOptions } from '../../src/log.js';
import { registerSecret, resetRegisteredSecrets } from '../../src/redact.js';

afterEach(() => resetRegisteredSecrets());

/** A logger writing into memory; `lines()` returns what was written, split into lines. */
function capture(opts: Omit<LoggerOptions, 'destination'> = {}) {
  let out = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString('utf8');
      done();
    },
  });
  const log = createLogger({ ...opts, destination });
  return {
    log,
    async lines(): Promise<string[]> {
      await tick();
      return out.split('\n').filter((l) => l !== '');
    },
  };
}

async function oneJson(c: ReturnType<typeof capture>): Promise<Record<string, unknown>> {
  const lines = await c.lines();
  assert.equal(lines.length, 1, JSON.stringify(lines));
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe('createLogger, JSON format', () => {
  test('writes one JSON object per line with the level as a label', async () => {
    const c = capture({ format: 'json' });
    c.log.info({ namespace: 'team-a' }, 'synced');
    c.log.error('failed');
    const lines = await c.lines();
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(first['level'], 'info');
    assert.equal(first['msg'], 'synced');
    assert.equal(first['namespace'], 'team-a');
    assert.equal(typeof first['time'], 'number');
    assert.equal(first['pid'], undefined);
    assert.equal(first['hostname'], undefined);
    assert.equal((JSON.parse(lines[1]!) as Record<string, unknown>)['level'], 'error');
  });

  test('honours the level', async () => {
    const c = capture({ format: 'json', level: 'warn' });
    c.log.info('dropped');
    c.log.debug('dropped too');
    c.log.warn('kept');
    const lines = await c.lines();
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['kept'],
    );
  });

  test('redacts password, token and secret fields at the top level', async () => {
    const c = capture({ format: 'json' });
    c.log.info({ password: 'pw-value-1', token: 'tok-value-1', secret: 'sec-value-1', user: 'robot' }, 'login');
    const rec = await oneJson(c);
    assert.equal(rec['password'], '[REDACTED]');
    assert.equal(rec['token'], '[REDACTED]');
    assert.equal(rec['secret'], '[REDACTED]');
    assert.equal(rec['user'], 'robot');
  });

  test('redacts password, token and secret fields nested one level down', async () => {
    const c = capture({ format: 'json' });
    c.log.info({ credential: { password: 'pw-value-2', token: 'tok-value-2', secret: 'sec-value-2', registry: 'ghcr.io' } }, 'fetched');
    const rec = await oneJson(c);
    assert.deepEqual(rec['credential'], { password: '[REDACTED]', token: '[REDACTED]', secret: '[REDACTED]', registry: 'ghcr.io' });
    const raw = (await c.lines())[0]!;
    for (const v of ['pw-value-2', 'tok-value-2', 'sec-value-2']) assert.ok(!raw.includes(v), raw);
  });

  test('scrubs a registered secret value inside the message and other fields', async () => {
    registerSecret('registered-pw-123');
    const c = capture({ format: 'json' });
    c.log.warn({ detail: 'server said registered-pw-123' }, 'request failed: body was registered-pw-123');
    const rec = await oneJson(c);
    assert.equal(rec['msg'], 'request failed: body was [REDACTED]');
    assert.equal(rec['detail'], 'server said [REDACTED]');
  });

  test('scrubs a registered value that needs JSON escaping', async () => {
    registerSecret('quote"and\\slash');
    const c = capture({ format: 'json' });
    c.log.info('value quote"and\\slash end');
    const lines = await c.lines();
    assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'value [REDACTED] end');
  });
});

describe('createLogger, text format', () => {
  test('renders "<time> LEVEL msg k=v" lines', async () => {
    const c = capture({ format: 'text' });
    c.log.info({ namespace: 'team-a', count: 3 }, 'synced secret');
    c.log.error('boom');
    const lines = await c.lines();
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO synced secret namespace=team-a count=3$/);
    assert.match(lines[1]!, /^\S+ ERROR boom$/);
  });

  test('is the default format', async () => {
    const c = capture();
    c.log.warn('careful');
    assert.match((await c.lines())[0]!, /^\S+ WARN careful$/);
  });

  test('quotes values with whitespace and renders objects as JSON', async () => {
    const c = capture({ format: 'text' });
    c.log.info({ reason: 'two words', obj: { a: 1 } }, 'm');
    assert.match((await c.lines())[0]!, / INFO m reason="two words" obj=\{"a":1\}$/);
  });

  test('redacts fields and scrubs registered values in text too', async () => {
    registerSecret('text-secret-456');
    const c = capture({ format: 'text' });
    c.log.info({ password: 'field-pw-789' }, 'got text-secret-456');
    const line = (await c.lines())[0]!;
    assert.match(line, / INFO got \[REDACTED\] password=\[REDACTED\]$/);
    assert.ok(!line.includes('field-pw-789') && !line.includes('text-secret-456'), line);
  });
});

describe('renderText', () => {
  test('drops pid and hostname and upper-cases the level', () => {
    const line = renderText(JSON.stringify({ level: 'debug', time: 0, pid: 1, hostname: 'h', msg: 'hi', k: 'v' }));
    assert.equal(line, '1970-01-01T00:00:00.000Z DEBUG hi k=v\n');
  });

  test('passes through a line that is not JSON', () => {
    assert.equal(renderText('not json\n'), 'not json\n');
  });
});
