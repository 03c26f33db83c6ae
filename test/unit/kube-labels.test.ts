// Unit tests for src/kube/labels.ts: owner labels, long-name label values, ownership checks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LABEL_MANAGED_BY,
  LABEL_OWNER_KIND,
  LABEL_OWNER_NAME,
  LABEL_OWNER_NAMESPACE,
  describeOwner,
  isManagedBy,
  isManagedByRegcred,
  labelValue,
  ownerLabels,
  ownerSelector,
} from '../../src/kube/labels.js';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('ownerLabels', () => {
  test('ClusterRegistryCredential: managed-by, kind and name, no namespace', () => {
    assert.deepEqual(ownerLabels({ kind: 'ClusterRegistryCredential', name: 'ecr-prod' }), {
      'app.kubernetes.io/managed-by': 'regcred',
      'regcred.dev/owner-kind': 'ClusterRegistryCredential',
      'regcred.dev/owner-name': 'ecr-prod',
    });
  });

  test('RegistryCredential: also the owner namespace', () => {
    assert.deepEqual(ownerLabels({ kind: 'RegistryCredential', name: 'team', namespace: 'team-a' }), {
      'app.kubernetes.io/managed-by': 'regcred',
      'regcred.dev/owner-kind': 'RegistryCredential',
      'regcred.dev/owner-name': 'team',
      'regcred.dev/owner-namespace': 'team-a',
    });
  });

  test('long owner names are shortened to a valid label value', () => {
    const name = 'a'.repeat(100);
    const labels = ownerLabels({ kind: 'ClusterRegistryCredential', name });
    assert.equal(labels[LABEL_OWNER_NAME], labelValue(name));
    assert.ok(labels[LABEL_OWNER_NAME]!.length <= 63);
  });

  test('ownerSelector lists the same labels as a selector string', () => {
    assert.equal(
      ownerSelector({ kind: 'RegistryCredential', name: 'team', namespace: 'team-a' }),
      'app.kubernetes.io/managed-by=regcred,regcred.dev/owner-kind=RegistryCredential,regcred.dev/owner-name=team,regcred.dev/owner-namespace=team-a',
    );
  });
});

describe('labelValue', () => {
  test('keeps values of up to 63 characters as they are', () => {
    assert.equal(labelValue('short'), 'short');
    const exactly63 = 'b'.repeat(63);
    assert.equal(labelValue(exactly63), exactly63);
  });

  test('shortens longer values to at most 63 characters, keeping a recognisable prefix', () => {
    for (const len of [64, 100, 253]) {
      const name = `${'x'.repeat(len - 4)}.com`;
      const v = labelValue(name);
      assert.ok(v.length <= 63, `${len}: ${v.length}`);
      assert.ok(v.startsWith('x'.repeat(40)), v);
      assert.match(v, LABEL_VALUE);
    }
  });

  test('is stable across calls', () => {
    const name = 'registry-credential.'.repeat(5);
    assert.equal(labelValue(name), labelValue(name));
  });

  test('gives distinct values for distinct long names sharing a long prefix', () => {
    const prefix = 'p'.repeat(70);
    const values = new Set(['a', 'b', 'c', 'ab', ''].map((s) => labelValue(`${prefix}${s}`)));
    assert.equal(values.size, 5);
    for (const v of values) assert.ok(v.length <= 63);
  });

  test('a shortened value does not collide with a short name equal to it', () => {
    const long = 'q'.repeat(64);
    assert.notEqual(labelValue(long), labelValue('q'.repeat(63)));
  });
});

describe('isManagedBy', () => {
  const cluster = { kind: 'ClusterRegistryCredential', name: 'shared' };
  const namespaced = { kind: 'RegistryCredential', name: 'shared', namespace: 'team-a' };

  test('true for the labels of the same owner', () => {
    assert.equal(isManagedBy(ownerLabels(cluster), cluster), true);
    assert.equal(isManagedBy(ownerLabels(namespaced), namespaced), true);
  });

  test('true with extra, unrelated labels', () => {
    assert.equal(isManagedBy({ ...ownerLabels(cluster), team: 'a' }, cluster), true);
  });

  test('a RegistryCredential\'s Secret is not managed by a same-named ClusterRegistryCredential', () => {
    assert.equal(isManagedBy(ownerLabels(namespaced), cluster), false);
  });

  test('a ClusterRegistryCredential\'s Secret is not managed by a same-named RegistryCredential', () => {
    assert.equal(isManagedBy(ownerLabels(cluster), namespaced), false);
  });

  test('a cluster owner does not claim a Secret carrying an owner-namespace label, even with its kind', () => {
    assert.equal(isManagedBy({ ...ownerLabels(cluster), [LABEL_OWNER_NAMESPACE]: 'team-a' }, cluster), false);
  });

  test('another namespace or name is another owner', () => {
    assert.equal(isManagedBy(ownerLabels({ ...namespaced, namespace: 'team-b' }), namespaced), false);
    assert.equal(isManagedBy(ownerLabels({ ...cluster, name: 'other' }), cluster), false);
  });

  test('false without labels or without the managed-by label', () => {
    assert.equal(isManagedBy(undefined, cluster), false);
    assert.equal(isManagedBy({}, cluster), false);
    const { [LABEL_MANAGED_BY]: _drop, ...rest } = ownerLabels(cluster);
    assert.equal(isManagedBy(rest, cluster), false);
  });

  test('works for long owner names via the shortened label value', () => {
    const owner = { kind: 'ClusterRegistryCredential', name: 'n'.repeat(90) };
    assert.equal(isManagedBy(ownerLabels(owner), owner), true);
    assert.equal(isManagedBy(ownerLabels(owner), { ...owner, name: 'n'.repeat(91) }), false);
  });
});

describe('isManagedByRegcred / describeOwner', () => {
  test('isManagedByRegcred looks at the managed-by label only', () => {
    assert.equal(isManagedByRegcred({ [LABEL_MANAGED_BY]: 'regcred' }), true);
    assert.equal(isManagedByRegcred({ [LABEL_MANAGED_BY]: 'helm' }), false);
    assert.equal(isManagedByRegcred(undefined), false);
  });

  test('describeOwner names kind, namespace and name', () => {
    assert.equal(describeOwner(ownerLabels({ kind: 'RegistryCredential', name: 'x', namespace: 'ns' })), 'RegistryCredential/ns/x');
    assert.equal(describeOwner({ [LABEL_OWNER_KIND]: 'ClusterRegistryCredential', [LABEL_OWNER_NAME]: 'y' }), 'ClusterRegistryCredential/y');
    assert.equal(describeOwner({}), '?/?');
  });
});
