// Unit tests for src/crdgen/cel.ts: the CEL rule builders (property names escaped as the API server
// expects, messages from constant strings only) and appending rules to a schema node.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RESERVED_KEYS_RULE, SELECTOR_RULE, addRule, exactlyOneOfFew, exactlyOneOfMany } from '../../src/crdgen/cel.js';

describe('exactlyOneOfMany', () => {
  test('counts the keys set, escaping names CEL cannot take as they are', () => {
    const r = exactlyOneOfMany(['static', 'ecr-public', 'namespace'], 'none', 'found:');
    assert.equal(r.rule, '[has(self.static), has(self.ecr__dash__public), has(self.__namespace__)].filter(x, x).size() == 1');
    assert.equal(r.message, 'none');
    assert.match(r.messageExpression ?? '', /\? 'none' : 'found:' \+ \(has\(self\.static\) \? ' static' : ''\)/);
    assert.match(r.messageExpression ?? '', /\(has\(self\.ecr__dash__public\) \? ' ecr-public' : ''\)/);
  });

  test('refuses a property name no escaping can express', () => {
    assert.throws(() => exactlyOneOfMany(['a b'], 'none', 'many'), /cannot be named in a CEL rule/);
  });
});

describe('exactlyOneOfFew', () => {
  test('names every combination found, the largest first, and quotes messages', () => {
    const r = exactlyOneOfFew(['names', 'selector', 'all'], "needs one", 'found ', ' and ');
    assert.equal(r.rule, '[has(self.names), has(self.selector), has(self.all)].filter(x, x).size() == 1');
    assert.equal(
      r.messageExpression,
      "has(self.names) && has(self.selector) && has(self.all) ? 'found names and selector and all' : " +
        "has(self.names) && has(self.selector) ? 'found names and selector' : " +
        "has(self.names) && has(self.all) ? 'found names and all' : " +
        "has(self.selector) && has(self.all) ? 'found selector and all' : 'needs one'",
    );
    assert.match(exactlyOneOfFew(['a', 'b'], "it's", 'x', ',').messageExpression ?? '', /'it\\'s'$/);
  });
});

describe('addRule', () => {
  test('appends copies, keeping the rules already there', () => {
    const node: Record<string, unknown> = { type: 'object' };
    addRule(node, SELECTOR_RULE);
    addRule(node, RESERVED_KEYS_RULE);
    const rules = node['x-kubernetes-validations'] as object[];
    assert.deepEqual(rules, [SELECTOR_RULE, RESERVED_KEYS_RULE]);
    assert.notEqual(rules[0], SELECTOR_RULE, 'a copy: a node changed later never changes the shared rule');
  });
});
