// Unit tests for src/controller/credentials/claims.ts: which namespaces a credential targets, who
// else claims its Secret, and which credential a Secret's owner labels name.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  labelKeyOf,
  rivalsIn,
  secretNameSharers,
  selectedNamespaces,
  sharesSecretName,
  specKeyOf,
  targetsNamespace,
  trusts,
} from '../../src/controller/credentials/claims.js';
import { ownerOf } from '../../src/controller/reconcile.js';
import { crc, keyOf, labelledSecret, namespace, namespaces, rc, specMap } from './controller-fixtures.js';

const team = crc('team', { secretName: 'pull', namespaces: { selector: { matchLabels: { team: 'a' } } } });
const everywhere = crc('everywhere', { secretName: 'pull', namespaces: { all: true, exclude: ['kube-system'] } });
const other = crc('other', { secretName: 'other-pull', namespaces: { names: ['app'] } });
const tenant = rc('app', 'tenant', { secretName: 'pull' });

describe('targetsNamespace', () => {
  test('a ClusterRegistryCredential targets by its selector, names or all-but-excluded', () => {
    assert.equal(targetsNamespace(team, 'app', { team: 'a' }), true);
    assert.equal(targetsNamespace(team, 'app', { team: 'b' }), false);
    assert.equal(targetsNamespace(everywhere, 'app', {}), true);
    assert.equal(targetsNamespace(everywhere, 'kube-system', {}), false);
    assert.equal(targetsNamespace(other, 'app', {}), true);
    assert.equal(targetsNamespace(other, 'web', {}), false);
  });

  test('a RegistryCredential targets its own namespace only, whatever the labels', () => {
    assert.equal(targetsNamespace(tenant, 'app', {}), true);
    assert.equal(targetsNamespace(tenant, 'web', { team: 'a' }), false);
  });
});

describe('selectedNamespaces', () => {
  const cache = namespaces(namespace('web', { team: 'a' }), namespace('app', { team: 'a' }), namespace('gone', { team: 'a' }, 'Terminating'), namespace('b', { team: 'b' }));

  test('the matching namespaces in the cache, sorted, without those being deleted', () => {
    assert.deepEqual(selectedNamespaces(team, cache), ['app', 'web']);
  });

  test("a RegistryCredential's own namespace, only while it exists and is not being deleted", () => {
    assert.deepEqual(selectedNamespaces(tenant, cache), ['app']);
    assert.deepEqual(selectedNamespaces(rc('gone', 't', { secretName: 'pull' }), cache), []);
    assert.deepEqual(selectedNamespaces(rc('nowhere', 't', { secretName: 'pull' }), cache), []);
  });
});

describe('Secret-name claims', () => {
  const specs = specMap(team, everywhere, other, tenant);

  test('sharers: every other credential wanting a Secret of that name', () => {
    assert.deepEqual(secretNameSharers(specs, keyOf(team), 'pull'), [keyOf(everywhere), keyOf(tenant)]);
    assert.deepEqual(secretNameSharers(specs, keyOf(other), 'other-pull'), []);
    assert.deepEqual(secretNameSharers(specs, keyOf(team), undefined), [], 'a credential that had no spec shares nothing');
    assert.equal(sharesSecretName(specs, keyOf(team), 'pull'), true);
    assert.equal(sharesSecretName(specs, keyOf(other), 'other-pull'), false);
  });

  test('rivals: only the sharers that target the namespace, read with its cached labels', () => {
    const cache = namespaces(namespace('app', { team: 'a' }), namespace('web', { team: 'b' }));
    assert.deepEqual(rivalsIn(specs, keyOf(team), team, 'app', cache), [keyOf(everywhere), keyOf(tenant)]);
    assert.deepEqual(rivalsIn(specs, keyOf(team), team, 'web', cache), [keyOf(everywhere)]);
    assert.deepEqual(rivalsIn(specs, keyOf(other), other, 'app', cache), [], 'another Secret name is no rival');
  });
});

describe('owner keys', () => {
  test('a Secret label key is found back to its credential, also when the name is shortened in labels', () => {
    const long = crc('a'.repeat(70), { secretName: 'pull', namespaces: { all: true } });
    const specs = specMap(team, long);
    assert.notEqual(labelKeyOf(long), keyOf(long), 'names over 63 characters are shortened');
    assert.equal(specKeyOf(specs, labelKeyOf(long)), keyOf(long));
    assert.equal(specKeyOf(specs, keyOf(team)), keyOf(team));
    assert.equal(specKeyOf(specs, 'ClusterRegistryCredential/unknown'), undefined);
  });

  test("owner labels are believed only under the credential's Secret name, in a namespace it targets", () => {
    const cache = namespaces(namespace('app', { team: 'a' }), namespace('web', { team: 'b' }));
    assert.equal(trusts(team, labelledSecret(ownerOf(team), 'app', 'pull'), cache), true);
    assert.equal(trusts(team, labelledSecret(ownerOf(team), 'web', 'pull'), cache), false, 'a namespace it does not target');
    assert.equal(trusts(team, labelledSecret(ownerOf(team), 'app', 'renamed'), cache), false, 'another name');
    assert.equal(trusts(team, labelledSecret(ownerOf(team), 'missing', 'pull'), cache), false, 'a namespace not in the cache');
    assert.equal(trusts(tenant, labelledSecret(ownerOf(tenant), 'web', 'pull'), cache), false, "outside a RegistryCredential's namespace");
  });
});
