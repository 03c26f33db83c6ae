// Unit tests for test/harness/leak-guard.ts: the registry of test secrets and the text scan every
// output, Event and status goes through.
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoLeak, findLeaks, forgetAllSecrets, rememberLogin, rememberSecret, rememberSecretEnv, scanCapturedOutputs, watchOutput } from '../harness/leak-guard.js';

beforeEach(() => forgetAllSecrets());

describe('findLeaks', () => {
  test('finds a remembered value, described without revealing it', () => {
    rememberSecret('s3cr3t-value-42');
    const leaks = findLeaks('refresh failed: got s3cr3t-value-42 back');
    assert.equal(leaks.length, 1);
    assert.match(leaks[0]!, /"s3c…" \(15 chars\)/);
    assert.ok(!leaks[0]!.includes('s3cr3t-value-42'));
  });

  test('finds nothing in clean text', () => {
    rememberSecret('s3cr3t-value-42');
    assert.deepEqual(findLeaks('refresh failed: HTTP 401 from the broker'), []);
  });

  test('ignores values shorter than 6 characters (too likely by chance)', () => {
    rememberSecret('AWS', 'abcde', '');
    assert.deepEqual(findLeaks('AWS abcde'), []);
  });

  test('finds the base64 form of a remembered value', () => {
    rememberSecret('s3cr3t-value-42');
    assert.equal(findLeaks(`data: ${Buffer.from('s3cr3t-value-42').toString('base64')}`).length, 1);
  });

  test("finds a JWT's signature alone", () => {
    const sig = 'abcdefghijklmnopqrstuvwxyz012345';
    rememberSecret(`eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.${sig}`);
    assert.equal(findLeaks(`signature ${sig} did not verify`).length, 1);
    assert.deepEqual(findLeaks('header eyJhbGciOiJSUzI1NiJ9 is public'), []);
  });
});

describe('rememberLogin', () => {
  test('remembers the docker config auth field of the login, not the user', () => {
    rememberLogin('oauth2accesstoken', 'ya29.token-value');
    const auth = Buffer.from('oauth2accesstoken:ya29.token-value').toString('base64');
    assert.ok(findLeaks(`{"auth":"${auth}"}`).some((d) => d.startsWith('the auth field of oauth2accesstoken:')));
    assert.equal(findLeaks('password ya29.token-value').length, 1);
    assert.deepEqual(findLeaks('username oauth2accesstoken'), []);
  });

  test('ignores a short password', () => {
    rememberLogin('someuser', 'pw');
    assert.deepEqual(findLeaks(Buffer.from('someuser:pw').toString('base64')), []);
  });
});

describe('rememberSecretEnv', () => {
  test('remembers secret-looking variables, not key ids or file paths', () => {
    rememberSecretEnv({ AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE1', AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token' });
    assert.equal(findLeaks('wJalrXUtnFEMI').length, 1);
    assert.deepEqual(findLeaks('AKIAEXAMPLE1 /var/run/token'), []);
  });
});

describe('assertNoLeak and watched outputs', () => {
  test('assertNoLeak throws an AssertionError naming where', () => {
    rememberSecret('s3cr3t-value-42');
    assert.throws(() => assertNoLeak('x s3cr3t-value-42', 'the logs'), (err: unknown) => err instanceof assert.AssertionError && /the logs/.test(err.message) && !err.message.includes('s3cr3t-value-42'));
    assert.doesNotThrow(() => assertNoLeak('clean', 'the logs'));
  });

  test('a watched output is rescanned against secrets remembered after it was captured', () => {
    const lines = ['first line'];
    watchOutput('the test output', () => lines.join('\n'));
    lines.push('the password is late-remembered-pw');
    assert.doesNotThrow(() => scanCapturedOutputs());
    rememberSecret('late-remembered-pw');
    assert.throws(() => scanCapturedOutputs(), /the test output/);
  });
});
