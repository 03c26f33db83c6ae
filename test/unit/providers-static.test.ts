// Unit tests for src/providers/static.ts with a fake SourceReader.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { staticConfig, staticProvider, type StaticConfig } from '../../src/providers/static.js';
import type { Credential, SourceReader, SourceSecret } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { silentLogger } from '../../src/log.js';

afterEach(() => resetRegisteredSecrets());

const PASSWORD = 'hunter2-static-password';

/** A SourceReader serving one Secret (in regcred-system unless the ref names a namespace); records refs. */
function fakeSources(secret: { type?: string; data: Record<string, string> } | undefined) {
  const refs: { namespace?: string | undefined; name: string }[] = [];
  const sources: SourceReader = {
    async read(ref): Promise<SourceSecret> {
      refs.push(ref);
      if (!secret) throw new RegcredError('SourceNotFound', `source Secret regcred-system/${ref.name} not found`);
      return { namespace: ref.namespace ?? 'regcred-system', name: ref.name, type: secret.type ?? 'Opaque', data: { ...secret.data } };
    },
  };
  return { sources, refs };
}

function fetchWith(config: StaticConfig, secret: { type?: string; data: Record<string, string> } | undefined): Promise<Credential[]> {
  const { sources } = fakeSources(secret);
  const provider = staticProvider.create(config, {
    sources,
    now: () => new Date('2030-01-01T00:00:00Z'),
    fetch: (async () => {
      throw new Error('the static provider must not use the network');
    }) as typeof globalThis.fetch,
    log: silentLogger(),
  });
  return provider.mint();
}

async function invalidSource(p: Promise<unknown>): Promise<RegcredError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof RegcredError, `expected a RegcredError, got ${String(caught)}`);
  assert.equal(caught.code, 'InvalidSource');
  assert.equal(caught.retryable, false);
  return caught;
}

describe('static provider', () => {
  test('is registered under the key "static"', () => {
    assert.equal(staticProvider.key, 'static');
  });

  test('reads the keys registry, username and password', async () => {
    const creds = await fetchWith({ secretRef: { name: 'src' } }, { data: { registry: 'ghcr.io', username: 'robot', password: PASSWORD } });
    assert.deepEqual(creds, [{ registry: 'ghcr.io', username: 'robot', password: PASSWORD }]);
    assert.equal(creds[0]!.expiresAt, undefined);
  });

  test('passes the secretRef to the SourceReader as given', async () => {
    const { sources, refs } = fakeSources({ data: { registry: 'r.io', username: 'u', password: PASSWORD } });
    const provider = staticProvider.create(
      { secretRef: { namespace: 'creds', name: 'src' } },
      { sources, now: () => new Date(), fetch: globalThis.fetch, log: silentLogger() },
    );
    await provider.mint();
    assert.deepEqual(refs, [{ namespace: 'creds', name: 'src' }]);
  });

  test('the `registry` config overrides the Secret\'s registry key', async () => {
    const creds = await fetchWith(
      { secretRef: { name: 'src' }, registry: 'registry.example.com:5000' },
      { data: { registry: 'ghcr.io', username: 'robot', password: PASSWORD } },
    );
    assert.deepEqual(creds, [{ registry: 'registry.example.com:5000', username: 'robot', password: PASSWORD }]);
  });

  test('the `registry` config supplies a registry the Secret lacks', async () => {
    const creds = await fetchWith({ secretRef: { name: 'src' }, registry: 'quay.io' }, { data: { username: 'robot', password: PASSWORD } });
    assert.deepEqual(creds, [{ registry: 'quay.io', username: 'robot', password: PASSWORD }]);
  });

  test('a kubernetes.io/dockerconfigjson Secret is copied whole', async () => {
    const dockerConfig = JSON.stringify({
      auths: {
        'ghcr.io': { username: 'a', password: 'pw-ghcr-1234' },
        'quay.io': { auth: Buffer.from('b:pw-quay-5678').toString('base64') },
      },
    });
    const creds = await fetchWith(
      { secretRef: { name: 'src' }, registry: 'ignored.example.com' },
      { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': dockerConfig } },
    );
    assert.deepEqual(creds, [
      { registry: 'ghcr.io', username: 'a', password: 'pw-ghcr-1234' },
      { registry: 'quay.io', username: 'b', password: 'pw-quay-5678' },
    ]);
    assert.equal(scrub('pw-ghcr-1234 pw-quay-5678'), '[REDACTED] [REDACTED]');
  });

  test('an Opaque Secret with only a .dockerconfigjson key is read as a docker config', async () => {
    const dockerConfig = JSON.stringify({ auths: { 'ghcr.io': { username: 'a', password: 'pw-opaque-99' } } });
    const creds = await fetchWith({ secretRef: { name: 'src' } }, { data: { '.dockerconfigjson': dockerConfig } });
    assert.deepEqual(creds, [{ registry: 'ghcr.io', username: 'a', password: 'pw-opaque-99' }]);
  });

  test('a dockerconfigjson Secret without the key, or with no entries, is InvalidSource', async () => {
    const noKey = await invalidSource(fetchWith({ secretRef: { name: 'src' } }, { type: 'kubernetes.io/dockerconfigjson', data: {} }));
    assert.equal(noKey.message, 'Secret regcred-system/src has no key ".dockerconfigjson"');
    const empty = await invalidSource(fetchWith({ secretRef: { name: 'src' } }, { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': '{"auths":{}}' } }));
    assert.equal(empty.message, 'Secret regcred-system/src: ".dockerconfigjson" has no auths entries');
  });

  test('missing keys are InvalidSource naming them, never the password', async () => {
    const err = await invalidSource(fetchWith({ secretRef: { name: 'src' } }, { data: { password: PASSWORD } }));
    assert.match(err.message, /^Secret regcred-system\/src lacks key\(s\) "username", "registry" /);
    assert.ok(!err.message.includes(PASSWORD), err.message);
    assert.ok(!err.message.includes('"password"'), err.message);
  });

  test('a missing password is named, and the other values do not appear', async () => {
    const err = await invalidSource(fetchWith({ secretRef: { name: 'src' } }, { data: { registry: 'ghcr.io', username: 'robot-user' } }));
    assert.match(err.message, /lacks key\(s\) "password"/);
    assert.ok(!err.message.includes('robot-user'), err.message);
  });

  test('empty values count as missing', async () => {
    const err = await invalidSource(fetchWith({ secretRef: { name: 'src' } }, { data: { registry: 'ghcr.io', username: '', password: PASSWORD } }));
    assert.match(err.message, /lacks key\(s\) "username" \(/);
    assert.ok(!err.message.includes(PASSWORD), err.message);
  });

  test('an empty Secret names all three keys', async () => {
    const err = await invalidSource(fetchWith({ secretRef: { name: 'src' } }, { data: {} }));
    assert.match(err.message, /lacks key\(s\) "username", "password", "registry"/);
  });

  test('the password is registered for scrubbing', async () => {
    assert.equal(scrub(PASSWORD), PASSWORD); // not before the fetch
    await fetchWith({ secretRef: { name: 'src' } }, { data: { registry: 'ghcr.io', username: 'robot', password: PASSWORD } });
    assert.equal(scrub(PASSWORD), '[REDACTED]');
    assert.equal(scrub(`login failed for robot with ${PASSWORD}`), 'login failed for robot with [REDACTED]');
  });

  test('errors from the SourceReader pass through', async () => {
    await assert.rejects(fetchWith({ secretRef: { name: 'src' } }, undefined), { code: 'SourceNotFound' });
  });
});

describe('staticConfig schema', () => {
  test('requires secretRef.name and accepts an optional namespace and registry', () => {
    assert.equal(staticConfig.safeParse({ secretRef: { name: 'src' } }).success, true);
    assert.equal(staticConfig.safeParse({ secretRef: { name: 'src', namespace: 'ns' }, registry: '127.0.0.1:5000' }).success, true);
    assert.equal(staticConfig.safeParse({ secretRef: { name: 'src' }, registry: 'https://index.docker.io/v1/' }).success, true);
    assert.equal(staticConfig.safeParse({}).success, false);
    assert.equal(staticConfig.safeParse({ secretRef: {} }).success, false);
  });

  test('rejects unknown fields and a registry with spaces', () => {
    assert.equal(staticConfig.safeParse({ secretRef: { name: 'src' }, username: 'x' }).success, false);
    assert.equal(staticConfig.safeParse({ secretRef: { name: 'src' }, registry: 'not a host' }).success, false);
    assert.equal(staticConfig.safeParse({ secretRef: { name: 'src' }, registry: '' }).success, false);
  });
});
