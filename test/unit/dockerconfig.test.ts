// Unit tests for src/dockerconfig.ts: building and parsing `.dockerconfigjson`.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buildDockerConfigJson, earliestExpiry, parseDockerConfigJson, sha256Hex } from '../../src/dockerconfig.js';
import { RegcredError } from '../../src/errors.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import type { Credential } from '../../src/providers/types.js';

afterEach(() => resetRegisteredSecrets());

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('buildDockerConfigJson', () => {
  test('writes username, password and auth = base64("user:pass")', () => {
    const json = buildDockerConfigJson([{ registry: 'ghcr.io', username: 'robot$ci', password: 'p@ss:word"\\' }]);
    assert.deepEqual(JSON.parse(json), {
      auths: { 'ghcr.io': { username: 'robot$ci', password: 'p@ss:word"\\', auth: b64('robot$ci:p@ss:word"\\') } },
    });
  });

  test('the same credentials in any input order give the same bytes, sorted by registry', () => {
    const creds: Credential[] = [
      { registry: 'registry.example.com:5000', username: 'a', password: 'pw-a' },
      { registry: 'ghcr.io', username: 'b', password: 'pw-b' },
      { registry: 'docker.io', username: 'c', password: 'pw-c' },
      { registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com', username: 'AWS', password: 'pw-d' },
    ];
    const outputs = new Set(permutations(creds).map((p) => buildDockerConfigJson(p)));
    assert.equal(outputs.size, 1);
    const [only] = [...outputs];
    assert.deepEqual(Object.keys(JSON.parse(only!).auths), [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      'docker.io',
      'ghcr.io',
      'registry.example.com:5000',
    ]);
  });

  test('does not reorder the caller\'s array', () => {
    const creds: Credential[] = [
      { registry: 'b.io', username: 'u', password: 'p' },
      { registry: 'a.io', username: 'u', password: 'p' },
    ];
    buildDockerConfigJson(creds);
    assert.deepEqual(
      creds.map((c) => c.registry),
      ['b.io', 'a.io'],
    );
  });

  test('no credentials give an empty auths object', () => {
    assert.equal(buildDockerConfigJson([]), '{"auths":{}}');
  });

  test('round-trips through parseDockerConfigJson', () => {
    const creds: Credential[] = [
      { registry: 'a.io', username: 'u1', password: 'secret-1' },
      { registry: 'b.io', username: 'u2', password: 'with:colon' },
    ];
    assert.deepEqual(parseDockerConfigJson(buildDockerConfigJson(creds), 'test'), creds);
  });
});

describe('parseDockerConfigJson', () => {
  test('reads username and password fields', () => {
    const text = JSON.stringify({ auths: { 'ghcr.io': { username: 'robot', password: 'pw-1234' } } });
    assert.deepEqual(parseDockerConfigJson(text, 'src'), [{ registry: 'ghcr.io', username: 'robot', password: 'pw-1234' }]);
  });

  test('decodes auth-only entries', () => {
    const text = JSON.stringify({ auths: { 'quay.io': { auth: b64('robot:pw-5678') } } });
    assert.deepEqual(parseDockerConfigJson(text, 'src'), [{ registry: 'quay.io', username: 'robot', password: 'pw-5678' }]);
  });

  test('splits auth at the first colon, so the password may contain colons', () => {
    const text = JSON.stringify({ auths: { 'quay.io': { auth: b64('robot:pa:ss:word') } } });
    assert.deepEqual(parseDockerConfigJson(text, 'src'), [{ registry: 'quay.io', username: 'robot', password: 'pa:ss:word' }]);
  });

  test('explicit fields win over auth, and auth fills in a missing one', () => {
    const text = JSON.stringify({
      auths: {
        'a.io': { username: 'explicit', password: 'explicit-pw', auth: b64('other:other-pw') },
        'b.io': { username: 'only-user', auth: b64('ignored:from-auth') },
      },
    });
    assert.deepEqual(parseDockerConfigJson(text, 'src'), [
      { registry: 'a.io', username: 'explicit', password: 'explicit-pw' },
      { registry: 'b.io', username: 'only-user', password: 'from-auth' },
    ]);
  });

  test('returns every entry', () => {
    const text = JSON.stringify({ auths: { 'a.io': { username: 'a', password: 'pa11' }, 'b.io': { username: 'b', password: 'pb22' } } });
    assert.equal(parseDockerConfigJson(text, 'src').length, 2);
  });

  test('registers every password for scrubbing', () => {
    const text = JSON.stringify({ auths: { 'a.io': { username: 'a', password: 'first-password' }, 'b.io': { auth: b64('b:second-password') } } });
    parseDockerConfigJson(text, 'src');
    assert.equal(scrub('x first-password y second-password'), 'x [REDACTED] y [REDACTED]');
  });

  function assertInvalidSource(text: string, message: string | RegExp): void {
    assert.throws(
      () => parseDockerConfigJson(text, 'Secret ns/name'),
      (err: unknown) => {
        assert.ok(err instanceof RegcredError, `not a RegcredError: ${String(err)}`);
        assert.equal(err.code, 'InvalidSource');
        assert.equal(err.retryable, false);
        if (typeof message === 'string') assert.equal(err.message, message);
        else assert.match(err.message, message);
        return true;
      },
    );
  }

  test('invalid JSON is InvalidSource', () => {
    assertInvalidSource('{"auths": ', 'Secret ns/name: ".dockerconfigjson" is not valid JSON');
  });

  for (const [what, text] of [
    ['no auths key', '{"credsStore": "desktop"}'],
    ['auths null', '{"auths": null}'],
    ['auths a string', '{"auths": "x"}'],
    ['a JSON null document', 'null'],
    ['a JSON number', '42'],
  ] as const) {
    test(`${what} is InvalidSource "no auths object"`, () => {
      assertInvalidSource(text, 'Secret ns/name: ".dockerconfigjson" has no "auths" object');
    });
  }

  for (const [what, entry] of [
    ['an empty entry', {}],
    ['a null entry', null],
    ['only a username', { username: 'u' }],
    ['only a password', { password: 'lonely-password' }],
    ['auth without a colon', { auth: b64('no-colon-here') }],
    ['auth with an empty username', { auth: b64(':password-only') }],
  ] as const) {
    test(`${what} is InvalidSource naming the registry, never the password`, () => {
      const text = JSON.stringify({ auths: { 'ghcr.io': entry } });
      assertInvalidSource(text, 'Secret ns/name: auths entry "ghcr.io" has no username and password');
    });
  }
});

describe('earliestExpiry', () => {
  test('returns the earliest expiry', () => {
    const early = new Date('2030-01-01T00:00:00Z');
    const late = new Date('2030-06-01T00:00:00Z');
    const creds: Credential[] = [
      { registry: 'a', username: 'u', password: 'p', expiresAt: late },
      { registry: 'b', username: 'u', password: 'p' },
      { registry: 'c', username: 'u', password: 'p', expiresAt: early },
    ];
    assert.equal(earliestExpiry(creds)?.getTime(), early.getTime());
  });

  test('is undefined when nothing expires or there is nothing', () => {
    assert.equal(earliestExpiry([{ registry: 'a', username: 'u', password: 'p' }]), undefined);
    assert.equal(earliestExpiry([]), undefined);
  });
});

describe('sha256Hex', () => {
  test('matches the sha256 of strings and buffers', () => {
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(sha256Hex(Buffer.from('abc')), sha256Hex('abc'));
  });

  test('is 64 lower-case hex characters and differs for different input', () => {
    const h = sha256Hex('{"auths":{}}');
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(h, createHash('sha256').update('{"auths":{}}').digest('hex'));
    assert.notEqual(sha256Hex('a'), sha256Hex('b'));
  });
});
