// Unit tests for src/config/common.ts: durations, label selectors and DNS-1123 names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { dns1123Label, dns1123Subdomain, duration, labelSelector, labelSelectorToString, parseDuration } from '../../src/config/common.js';

/** Parses `value`, asserts that it fails, and returns the issues as {path, message}. */
function issuesOf(schema: z.ZodType, value: unknown): { path: PropertyKey[]; message: string }[] {
  const r = schema.safeParse(value);
  assert.equal(r.success, false, `expected ${JSON.stringify(value)} to be rejected`);
  return (r.error?.issues ?? []).map((i) => ({ path: i.path, message: i.message }));
}

describe('parseDuration', () => {
  test('parses single-unit durations', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('6h'), 21_600_000);
    assert.equal(parseDuration('500ms'), 500);
  });

  test('"ms" is milliseconds, not minutes followed by seconds', () => {
    assert.equal(parseDuration('1ms'), 1);
    assert.equal(parseDuration('1m5s'), 65_000);
  });

  test('adds up compound durations', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1h30m15s'), 5_415_000);
    assert.equal(parseDuration('2m500ms'), 120_500);
  });

  test('accepts fractions and the sub-millisecond units', () => {
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('2000us'), 2);
    assert.equal(parseDuration('2000µs'), 2);
    assert.equal(parseDuration('3000000ns'), 3);
  });

  for (const bad of ['', '90', 's', '1d', '-5s', '1 h', '1h 30m', 'h1', '1.h', '5sec', '1H', 'abc']) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseDuration(bad), { message: `invalid duration "${bad}"` });
    });
  }

  test('the zod duration schema agrees with parseDuration', () => {
    assert.equal(duration.safeParse('1h30m').success, true);
    assert.equal(duration.safeParse('1d').success, false);
  });
});

describe('labelSelectorToString', () => {
  test('renders matchLabels as key=value pairs', () => {
    assert.equal(labelSelectorToString({ matchLabels: { team: 'a', 'pull-secrets': 'demo' } }), 'team=a,pull-secrets=demo');
  });

  test('renders every expression operator in API server syntax', () => {
    assert.equal(
      labelSelectorToString({
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'staging'] },
          { key: 'tier', operator: 'NotIn', values: ['test'] },
          { key: 'owner', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
      'env in (prod,staging),tier notin (test),owner,!legacy',
    );
  });

  test('puts matchLabels before matchExpressions', () => {
    assert.equal(
      labelSelectorToString({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }),
      'a=1,b',
    );
  });

  test('an empty selector renders as the empty string', () => {
    assert.equal(labelSelectorToString({}), '');
  });
});

describe('dns1123Label', () => {
  for (const ok of ['a', 'default', 'team-a', 'a1', '0abc', 'x'.repeat(63)]) {
    test(`accepts ${JSON.stringify(ok.length > 20 ? `${ok.length} chars` : ok)}`, () => {
      assert.equal(dns1123Label.safeParse(ok).success, true);
    });
  }
  for (const bad of ['', 'Team', 'a_b', '-a', 'a-', 'a.b', 'a b', 'x'.repeat(64)]) {
    test(`rejects ${JSON.stringify(bad.length > 20 ? `${bad.length} chars` : bad)}`, () => {
      assert.equal(dns1123Label.safeParse(bad).success, false);
    });
  }
  test('too long names say so', () => {
    assert.ok(issuesOf(dns1123Label, 'x'.repeat(64)).some((i) => i.message === 'must be at most 63 characters'));
  });
});

describe('dns1123Subdomain', () => {
  for (const ok of ['a', 'my-secret', 'pull.example.com', 'a.b-c.d', 'x'.repeat(253)]) {
    test(`accepts ${JSON.stringify(ok.length > 20 ? `${ok.length} chars` : ok)}`, () => {
      assert.equal(dns1123Subdomain.safeParse(ok).success, true);
    });
  }
  for (const bad of ['', 'My-Secret', 'a..b', '.a', 'a.', 'a_b', '-a.b', 'a.-b', 'x'.repeat(254)]) {
    test(`rejects ${JSON.stringify(bad.length > 20 ? `${bad.length} chars` : bad)}`, () => {
      assert.equal(dns1123Subdomain.safeParse(bad).success, false);
    });
  }
});

describe('labelSelector schema', () => {
  test('accepts a selector with matchLabels only', () => {
    assert.equal(labelSelector.safeParse({ matchLabels: { a: 'b' } }).success, true);
  });

  test('accepts In/NotIn with values and Exists/DoesNotExist without', () => {
    const r = labelSelector.safeParse({
      matchExpressions: [
        { key: 'a', operator: 'In', values: ['x'] },
        { key: 'b', operator: 'NotIn', values: ['y'] },
        { key: 'c', operator: 'Exists' },
        { key: 'd', operator: 'DoesNotExist', values: [] },
      ],
    });
    assert.equal(r.success, true);
  });

  test('In without values is rejected at the values path', () => {
    assert.deepEqual(
      issuesOf(labelSelector, { matchExpressions: [{ key: 'a', operator: 'In' }] }),
      [{ path: ['matchExpressions', 0, 'values'], message: 'operator In needs values' }],
    );
  });

  test('NotIn with an empty values list is rejected', () => {
    assert.deepEqual(issuesOf(labelSelector, { matchExpressions: [{ key: 'a', operator: 'NotIn', values: [] }] }), [
      { path: ['matchExpressions', 0, 'values'], message: 'operator NotIn needs values' },
    ]);
  });

  test('Exists with values is rejected, with the index of the offending expression', () => {
    assert.deepEqual(
      issuesOf(labelSelector, {
        matchExpressions: [
          { key: 'a', operator: 'In', values: ['x'] },
          { key: 'b', operator: 'Exists', values: ['y'] },
        ],
      }),
      [{ path: ['matchExpressions', 1, 'values'], message: 'operator Exists takes no values' }],
    );
  });

  test('an empty selector is rejected and points to "all: true"', () => {
    const issues = issuesOf(labelSelector, {});
    assert.equal(issues.length, 1);
    assert.match(issues[0]?.message ?? '', /needs matchLabels or matchExpressions \(use "all: true"/);
  });

  test('unknown operators and unknown fields are rejected', () => {
    assert.equal(labelSelector.safeParse({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }).success, false);
    assert.equal(labelSelector.safeParse({ matchLabels: { a: 'b' }, matchFields: {} }).success, false);
  });
});
