// Which annotated Secrets chainguard compatibility mode serves: allowlisted identities ("*" for
// any; none listed, none served) in allowlisted namespaces (none listed: every namespace).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refusal } from '../../src/controller/chainguard-compat.js';

test('an identity must be allowlisted; "*" allows any; an empty list allows none', () => {
  assert.equal(refusal('team-a', 'org/id1', { identities: ['org/id1'] }), undefined);
  assert.equal(refusal('team-a', 'org/anything', { identities: ['*'] }), undefined);
  assert.equal(refusal('team-a', 'org/id2', { identities: ['org/id1'] })?.reason, 'IdentityNotAllowed');
  assert.equal(refusal('team-a', 'org/id1', { identities: [] })?.reason, 'IdentityNotAllowed');
  assert.equal(refusal('team-a', 'org/id1', {})?.reason, 'IdentityNotAllowed');
  assert.match(refusal('team-a', 'org/id2', { identities: ['org/id1'] })!.message, /chainguard identity org\/id2 is not in --chainguard-compat-identities; nothing minted/);
});

test('namespaces: none listed serves every namespace; listed, only those (checked before the identity)', () => {
  assert.equal(refusal('anywhere', 'org/id1', { identities: ['org/id1'], namespaces: [] }), undefined);
  assert.equal(refusal('team-a', 'org/id1', { identities: ['org/id1'], namespaces: ['team-a'] }), undefined);
  const outside = refusal('team-b', 'org/id1', { identities: ['*'], namespaces: ['team-a'] });
  assert.equal(outside?.reason, 'NamespaceNotAllowed');
  assert.match(outside!.message, /does not serve namespace team-b \(not in --chainguard-compat-namespaces\)/);
  assert.equal(refusal('team-b', 'org/other', { identities: ['org/id1'], namespaces: ['team-a'] })?.reason, 'NamespaceNotAllowed');
});
