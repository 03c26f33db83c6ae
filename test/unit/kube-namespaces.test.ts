// Unit tests for src/kube/namespaces.ts: namespaceMatches (and resolveTargetNamespaces with a fake).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Api, V1Namespace } from '@kubernetes/client-node';
import { namespaceMatches, resolveTargetNamespaces } from '../../src/kube/namespaces.js';
import type { NamespaceTarget } from '../../src/config/schema.js';

type Req = NonNullable<NonNullable<NamespaceTarget['selector']>['matchExpressions']>[number];
const byExpr = (...reqs: Req[]): NamespaceTarget => ({ selector: { matchExpressions: reqs } });

describe('namespaceMatches: names, all, exclude', () => {
  test('names selects exactly the listed namespaces', () => {
    const t: NamespaceTarget = { names: ['team-a', 'team-b'] };
    assert.equal(namespaceMatches(t, 'team-a', {}), true);
    assert.equal(namespaceMatches(t, 'team-b', { any: 'label' }), true);
    assert.equal(namespaceMatches(t, 'team-c', {}), false);
  });

  test('all selects every namespace', () => {
    assert.equal(namespaceMatches({ all: true }, 'anything', {}), true);
  });

  test('exclude wins over all, names and a selector', () => {
    assert.equal(namespaceMatches({ all: true, exclude: ['kube-system'] }, 'kube-system', {}), false);
    assert.equal(namespaceMatches({ all: true, exclude: ['kube-system'] }, 'default', {}), true);
    assert.equal(namespaceMatches({ names: ['a'], exclude: ['a'] }, 'a', {}), false);
    assert.equal(namespaceMatches({ selector: { matchLabels: { x: '1' } }, exclude: ['a'] }, 'a', { x: '1' }), false);
  });

  test('a target with neither names, all nor selector selects nothing', () => {
    assert.equal(namespaceMatches({}, 'a', {}), false);
  });
});

describe('namespaceMatches: selector', () => {
  test('matchLabels needs every label with the same value', () => {
    const t: NamespaceTarget = { selector: { matchLabels: { 'pull-secrets': 'demo', env: 'prod' } } };
    assert.equal(namespaceMatches(t, 'n', { 'pull-secrets': 'demo', env: 'prod', extra: 'x' }), true);
    assert.equal(namespaceMatches(t, 'n', { 'pull-secrets': 'demo' }), false);
    assert.equal(namespaceMatches(t, 'n', { 'pull-secrets': 'demo', env: 'dev' }), false);
    assert.equal(namespaceMatches(t, 'n', {}), false);
  });

  test('In: the label is present with one of the values', () => {
    const t = byExpr({ key: 'env', operator: 'In', values: ['prod', 'staging'] });
    assert.equal(namespaceMatches(t, 'n', { env: 'prod' }), true);
    assert.equal(namespaceMatches(t, 'n', { env: 'staging' }), true);
    assert.equal(namespaceMatches(t, 'n', { env: 'dev' }), false);
    assert.equal(namespaceMatches(t, 'n', {}), false);
  });

  test('NotIn: the label is absent or has another value', () => {
    const t = byExpr({ key: 'env', operator: 'NotIn', values: ['prod'] });
    assert.equal(namespaceMatches(t, 'n', { env: 'dev' }), true);
    assert.equal(namespaceMatches(t, 'n', {}), true);
    assert.equal(namespaceMatches(t, 'n', { env: 'prod' }), false);
  });

  test('Exists: the key is present, whatever its value (even empty)', () => {
    const t = byExpr({ key: 'team', operator: 'Exists' });
    assert.equal(namespaceMatches(t, 'n', { team: 'a' }), true);
    assert.equal(namespaceMatches(t, 'n', { team: '' }), true);
    assert.equal(namespaceMatches(t, 'n', { other: 'a' }), false);
  });

  test('DoesNotExist: the key is absent', () => {
    const t = byExpr({ key: 'legacy', operator: 'DoesNotExist' });
    assert.equal(namespaceMatches(t, 'n', {}), true);
    assert.equal(namespaceMatches(t, 'n', { legacy: 'true' }), false);
    assert.equal(namespaceMatches(t, 'n', { legacy: '' }), false);
  });

  test('an inherited property name is not a label', () => {
    assert.equal(namespaceMatches(byExpr({ key: 'toString', operator: 'Exists' }), 'n', {}), false);
    assert.equal(namespaceMatches(byExpr({ key: 'constructor', operator: 'DoesNotExist' }), 'n', {}), true);
  });

  test('matchLabels and all expressions must hold together', () => {
    const t: NamespaceTarget = {
      selector: {
        matchLabels: { tier: 'app' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod'] },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
    };
    assert.equal(namespaceMatches(t, 'n', { tier: 'app', env: 'prod' }), true);
    assert.equal(namespaceMatches(t, 'n', { tier: 'app', env: 'prod', legacy: 'y' }), false);
    assert.equal(namespaceMatches(t, 'n', { tier: 'db', env: 'prod' }), false);
    assert.equal(namespaceMatches(t, 'n', { tier: 'app', env: 'dev' }), false);
  });
});

describe('resolveTargetNamespaces', () => {
  function fakeCore(items: V1Namespace[]) {
    const calls: unknown[] = [];
    const core = {
      async listNamespace(p: unknown) {
        calls.push(p);
        return { items };
      },
    } as unknown as CoreV1Api;
    return { core, calls };
  }

  test('names are taken as given, deduplicated, sorted, minus exclude, without an API call', async () => {
    const { core, calls } = fakeCore([]);
    assert.deepEqual(await resolveTargetNamespaces(core, { names: ['b', 'a', 'b', 'c'], exclude: ['c'] }), ['a', 'b']);
    assert.equal(calls.length, 0);
  });

  test('a selector lists with the rendered label selector and skips terminating namespaces', async () => {
    const { core, calls } = fakeCore([
      { metadata: { name: 'z' } },
      { metadata: { name: 'dying' }, status: { phase: 'Terminating' } },
      { metadata: { name: 'a' }, status: { phase: 'Active' } },
      { metadata: { name: 'kube-system' } },
    ]);
    const got = await resolveTargetNamespaces(core, { selector: { matchLabels: { x: '1' } }, exclude: ['kube-system'] });
    assert.deepEqual(got, ['a', 'z']);
    assert.deepEqual(calls, [{ labelSelector: 'x=1' }]);
  });

  test('all lists without a selector', async () => {
    const { core, calls } = fakeCore([{ metadata: { name: 'a' } }]);
    assert.deepEqual(await resolveTargetNamespaces(core, { all: true }), ['a']);
    assert.deepEqual(calls, [{}]);
  });
});
