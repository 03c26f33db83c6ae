// Unit tests for src/redact.ts: the registered-value safety net applied to everything printed.
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, registerSecret, registeredCount, resetRegisteredSecrets, scrub, withSecretOwner } from '../../src/redact.js';
import { buildDockerConfigJson } from '../../src/dockerconfig.js';

beforeEach(() => resetRegisteredSecrets());

describe('scrub', () => {
  test('returns text unchanged when nothing is registered', () => {
    assert.equal(scrub('password hunter2 token abc'), 'password hunter2 token abc');
  });

  test('replaces every occurrence of a registered value', () => {
    registerSecret('hunter22');
    assert.equal(scrub('a hunter22 b hunter22c'), `a ${REDACTED} b ${REDACTED}c`);
    assert.equal(scrub('nothing to see'), 'nothing to see');
  });

  test('replaces the base64 form of a registered value', () => {
    registerSecret('hunter22');
    const encoded = Buffer.from('hunter22').toString('base64');
    assert.equal(scrub(`auth=${encoded}`), `auth=${REDACTED}`);
  });

  test('replaces the JSON-escaped form of a value with quotes and backslashes', () => {
    const value = 'pa"ss\\word';
    registerSecret(value);
    const json = JSON.stringify({ password: value });
    assert.ok(json.includes('pa\\"ss\\\\word')); // the escaped form really is what JSON contains
    assert.equal(scrub(json), `{"password":"${REDACTED}"}`);
    assert.equal(scrub(`raw ${value} raw`), `raw ${REDACTED} raw`);
  });

  test('values shorter than 4 characters are not registered', () => {
    registerSecret('abc');
    registerSecret('');
    registerSecret(undefined);
    registerSecret(null);
    assert.equal(scrub('abc abcabc YWJj'), 'abc abcabc YWJj');
    registerSecret('abcd');
    assert.equal(scrub('abc abcd'), `abc ${REDACTED}`);
  });

  test('regular expression special characters in a value are matched literally', () => {
    const value = 'a.b*c+d?e^f$g{1}(h)|i[j]\\k';
    registerSecret(value);
    assert.equal(scrub(`x ${value} y`), `x ${REDACTED} y`);
    // Not interpreted as a pattern: strings the regex would match are left alone.
    assert.equal(scrub('aXb*c+d?e^f$g{1}(h)|i[j]\\k'), 'aXb*c+d?e^f$g{1}(h)|i[j]\\k');
    assert.equal(scrub('i[j]'), 'i[j]');
  });

  test('an alternation character in a value does not split it into alternatives', () => {
    registerSecret('left|right');
    assert.equal(scrub('left and right'), 'left and right');
    assert.equal(scrub('left|right'), REDACTED);
  });

  test('a longer value wins over a registered prefix of it', () => {
    registerSecret('token');
    registerSecret('token-with-suffix');
    assert.equal(scrub('token-with-suffix'), REDACTED);
    assert.equal(scrub('token-other'), `${REDACTED}-other`);
  });

  test('registration order does not matter for prefixes', () => {
    registerSecret('token-with-suffix');
    registerSecret('token');
    assert.equal(scrub('=token-with-suffix='), `=${REDACTED}=`);
  });

  test('values registered after a scrub are picked up', () => {
    registerSecret('first-value');
    assert.equal(scrub('first-value second-value'), `${REDACTED} second-value`);
    registerSecret('second-value');
    assert.equal(scrub('first-value second-value'), `${REDACTED} ${REDACTED}`);
  });

  test('registering the same value twice is harmless', () => {
    registerSecret('same-value');
    registerSecret('same-value');
    assert.equal(scrub('same-value'), REDACTED);
  });

  test('resetRegisteredSecrets forgets every value', () => {
    registerSecret('forget-me');
    resetRegisteredSecrets();
    assert.equal(scrub('forget-me'), 'forget-me');
  });

  // The comment in redact.ts says the base64 form is registered for "auth fields". An auth field is
  // base64("user:pass"), which contains base64("pass") only when the username's length is 2 mod 3.
  for (const username of ['ab', 'abc', 'abcd']) {
    test(`the auth field of a dockerconfigjson does not survive scrubbing (username of ${username.length} chars)`, () => {
      const password = 's3cr3t-Pa55w0rd';
      registerSecret(password);
      const json = buildDockerConfigJson([{ registry: 'r.example.com', username, password }]);
      const auth = Buffer.from(`${username}:${password}`).toString('base64');
      const out = scrub(json);
      assert.ok(!out.includes(password), out);
      assert.ok(!out.includes(auth), `auth field ${auth} (base64 of "${username}:<password>") left in ${out}`);
    });
  }
});

describe('owners: no credential can flush another\'s values', () => {
  const b64 = (v: string) => Buffer.from(v).toString('base64');

  test('one owner registering 100,000 values cannot evict another owner\'s secret', () => {
    registerSecret('victim-password-1a2b3c', 'RegistryCredential/team-a/pull');
    for (let i = 0; i < 100_000; i++) registerSecret(`flood-value-${i}-xxxxxxxx`, 'RegistryCredential/team-b/flood');
    const text = `leaked victim-password-1a2b3c and ${b64('victim-password-1a2b3c')} and flood-value-99999-xxxxxxxx`;
    assert.equal(scrub(text), `leaked ${REDACTED} and ${REDACTED} and ${REDACTED}`);
    assert.ok(registeredCount('RegistryCredential/team-b/flood') <= 1024, 'the flooding owner is bounded');
    assert.equal(registeredCount('RegistryCredential/team-a/pull'), 1);
  });

  test('values registered with no owner are not flushed by an owner either', () => {
    registerSecret('shared-secret-value-9z');
    for (let i = 0; i < 20_000; i++) registerSecret(`flood-${i}-yyyyyyyy`, 'ClusterRegistryCredential/flood');
    assert.equal(scrub('shared-secret-value-9z'), REDACTED);
    assert.equal(registeredCount(), 1);
  });

  test('past the global budget the largest owners shrink first; every owner keeps its newest values', () => {
    for (let v = 0; v < 100; v++) registerSecret(`victim-${v}-zzzzzzzz`, 'victim');
    // Many flooding owners, each at its own bound: far past the global budget together.
    for (let o = 0; o < 20; o++) for (let i = 0; i < 1024; i++) registerSecret(`o${o}-value-${i}-wwwwwwww`, `flood-${o}`);
    assert.equal(scrub('victim-99-zzzzzzzz'), REDACTED, 'the victim\'s newest value is kept');
    assert.ok(registeredCount('victim') >= 16, `victim keeps ${registeredCount('victim')}`);
    let kept = registeredCount('victim');
    for (let o = 0; o < 20; o++) kept += registeredCount(`flood-${o}`);
    assert.ok(kept <= 8192 + 16 * 21, `${kept} values kept in all`);
    assert.equal(scrub('o19-value-1023-wwwwwwww'), REDACTED, 'the newest flood values too');
  });

  test('withSecretOwner: values registered inside (and after its awaits) belong to that owner', async () => {
    await withSecretOwner('ClusterRegistryCredential/ambient', async () => {
      registerSecret('ambient-one-value');
      await new Promise((r) => setTimeout(r, 1));
      registerSecret('ambient-two-value');
      buildDockerConfigJson([{ registry: 'r.example.com', username: 'user', password: 'ambient-three-value' }]);
    });
    registerSecret('outside-value-123');
    assert.equal(registeredCount('ClusterRegistryCredential/ambient'), 4, 'two values, a password and its auth field');
    assert.equal(registeredCount(), 1);
    assert.equal(scrub('ambient-one-value ambient-two-value outside-value-123'), `${REDACTED} ${REDACTED} ${REDACTED}`);
  });

  test('an explicit owner wins over the ambient one', () => {
    withSecretOwner('ambient', () => registerSecret('explicit-owner-value', 'explicit'));
    assert.equal(registeredCount('explicit'), 1);
    assert.equal(registeredCount('ambient'), 0);
  });

  test('the same value under two owners: both keep it, scrubbed once', () => {
    registerSecret('shared-by-two-owners', 'a');
    registerSecret('shared-by-two-owners', 'b');
    for (let i = 0; i < 5000; i++) registerSecret(`push-${i}-vvvvvvvv`, 'a');
    assert.equal(scrub('x shared-by-two-owners x'), `x ${REDACTED} x`);
  });
});

describe('short values', () => {
  test('a value under 8 characters is replaced where it stands alone, not inside longer words', () => {
    registerSecret('pass1');
    assert.equal(scrub('password=pass1 "pass1" pass1'), `password=${REDACTED} "${REDACTED}" ${REDACTED}`);
    assert.equal(scrub('bypass1x compass12 pass1x'), 'bypass1x compass12 pass1x');
    // Its base64 form is long enough to be matched anywhere.
    assert.equal(scrub(`auth=${Buffer.from('pass1').toString('base64')}`), `auth=${REDACTED}`);
  });

  test('a short value does not blank out the words of other log lines', () => {
    registerSecret('info', 'RegistryCredential/team-b/x');
    registerSecret('erro', 'RegistryCredential/team-b/x');
    assert.equal(scrub('information about errors'), 'information about errors');
  });

  test('a long value containing a short one is replaced whole', () => {
    registerSecret('abcd');
    registerSecret('xxabcdxx-long-value');
    assert.equal(scrub('[xxabcdxx-long-value] [abcd]'), `[${REDACTED}] [${REDACTED}]`);
  });
});
