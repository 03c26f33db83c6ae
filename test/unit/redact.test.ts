// Unit tests for src/redact.ts: the registered-value safety net applied to everything printed.
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, registerSecret, resetRegisteredSecrets, scrub } from '../../src/redact.js';
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
