// Unit tests for src/controller/scheduler.ts: planRefresh.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planRefresh, type RefreshPlanInput } from '../../src/controller/scheduler.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;

function input(over: Partial<RefreshPlanInput>): RefreshPlanInput {
  return { now: NOW, issuedAt: NOW, intervalMs: HOUR, minDelayMs: 10_000, ...over };
}

describe('planRefresh: expiring credentials', () => {
  test('renews at expiresAt - lifetime/3 by default (random=0 gives exactly that)', () => {
    // A 12h token minted now renews 8h from now.
    const plan = planRefresh(input({ expiresAt: NOW + 12 * HOUR, random: () => 0 }));
    assert.deepEqual(plan, { at: NOW + 8 * HOUR });
    assert.equal(plan.clamped, undefined);
  });

  test('lifetime is measured from issuedAt, not from now', () => {
    // Minted 6h ago with 12h lifetime: renewBefore = 4h, so renew at expiresAt - 4h = now + 2h.
    const plan = planRefresh(input({ issuedAt: NOW - 6 * HOUR, expiresAt: NOW + 6 * HOUR, random: () => 0 }));
    assert.equal(plan.at, NOW + 2 * HOUR);
  });

  test('random=1 renews earlier by jitter * renewBefore (default jitter 0.1)', () => {
    const plan = planRefresh(input({ expiresAt: NOW + 12 * HOUR, random: () => 1 }));
    // renewBefore = 4h; jitter = 0.1 * 4h = 24min earlier than 8h.
    assert.equal(plan.at, NOW + 8 * HOUR - 24 * MIN);
    const custom = planRefresh(input({ expiresAt: NOW + 12 * HOUR, random: () => 1, jitter: 0.5 }));
    assert.equal(custom.at, NOW + 8 * HOUR - 2 * HOUR);
  });

  test('jitter never makes the renewal later than expiresAt - renewBefore', () => {
    for (let i = 0; i <= 100; i++) {
      const r = i / 100;
      const plan = planRefresh(input({ expiresAt: NOW + 12 * HOUR, random: () => r }));
      assert.ok(plan.at <= NOW + 8 * HOUR, `random=${r}: ${plan.at - NOW}`);
      assert.ok(plan.at >= NOW + 8 * HOUR - 24 * MIN, `random=${r}: ${plan.at - NOW}`);
    }
  });

  test('an explicit renewBeforeMs replaces the lifetime/3 default', () => {
    const plan = planRefresh(input({ expiresAt: NOW + 12 * HOUR, renewBeforeMs: HOUR, random: () => 0 }));
    assert.deepEqual(plan, { at: NOW + 11 * HOUR });
    const jittered = planRefresh(input({ expiresAt: NOW + 12 * HOUR, renewBeforeMs: HOUR, random: () => 1 }));
    assert.equal(jittered.at, NOW + 11 * HOUR - 6 * MIN);
  });

  test('an already-expired credential retries after minDelay, clamped "expired"', () => {
    assert.deepEqual(planRefresh(input({ issuedAt: NOW - 2 * HOUR, expiresAt: NOW - HOUR, random: () => 0 })), {
      at: NOW + 10_000,
      clamped: 'expired',
    });
    // Expiring exactly now counts as expired.
    assert.deepEqual(planRefresh(input({ expiresAt: NOW })), { at: NOW + 10_000, clamped: 'expired' });
    // moto's ECR tokens expire in 2015.
    const moto = planRefresh(input({ expiresAt: Date.parse('2015-01-01T00:00:00Z'), minDelayMs: 30_000 }));
    assert.deepEqual(moto, { at: NOW + 30_000, clamped: 'expired' });
  });

  test('a renewal window that falls before now + minDelay is clamped "too-short", but never past the expiry', () => {
    // 30s lifetime, minted now: renew at now + 20s, but minDelay is 60s: refresh 5s before the expiry.
    const plan = planRefresh(input({ expiresAt: NOW + 30_000, minDelayMs: 60_000, random: () => 0 }));
    assert.deepEqual(plan, { at: NOW + 25_000, clamped: 'too-short' });
    // 45s lifetime minted 25s late (20s left), minDelay 30s: the soak's case; refresh before the expiry.
    const late = planRefresh(input({ issuedAt: NOW, expiresAt: NOW + 20_000, minDelayMs: 30_000, random: () => 0 }));
    assert.equal(late.at, NOW + 15_000);
    // 2s left: a quarter of it before the expiry, not sooner than 1s.
    assert.equal(planRefresh(input({ expiresAt: NOW + 2000, minDelayMs: 30_000, random: () => 0 })).at, NOW + 1500);
    assert.equal(planRefresh(input({ expiresAt: NOW + 1000, minDelayMs: 30_000, random: () => 0 })).at, NOW + 1000);
    // renewBefore longer than the remaining lifetime: the window is in the past.
    const past = planRefresh(input({ issuedAt: NOW - HOUR, expiresAt: NOW + HOUR, renewBeforeMs: 2 * HOUR, random: () => 0 }));
    assert.deepEqual(past, { at: NOW + 10_000, clamped: 'too-short' });
  });

  test('a window ending exactly at now + minDelay is not clamped', () => {
    // lifetime 30s -> renewBefore 10s -> at = now + 20s = earliest.
    const plan = planRefresh(input({ expiresAt: NOW + 30_000, minDelayMs: 20_000, random: () => 0 }));
    assert.deepEqual(plan, { at: NOW + 20_000 });
  });
});

describe('planRefresh: credentials without expiry', () => {
  test('re-reads after the interval, ±jitter/2', () => {
    assert.deepEqual(planRefresh(input({ random: () => 0.5 })), { at: NOW + HOUR });
    assert.equal(planRefresh(input({ random: () => 0 })).at, NOW + HOUR * 0.95);
    assert.equal(planRefresh(input({ random: () => 1 })).at, NOW + HOUR * 1.05);
    assert.equal(planRefresh(input({ random: () => 0, jitter: 0.5 })).at, NOW + HOUR * 0.75);
    assert.equal(planRefresh(input({ random: () => 0 })).clamped, undefined);
  });

  test('never sooner than minDelay even for a tiny interval', () => {
    const plan = planRefresh(input({ intervalMs: 1000, minDelayMs: 30_000, random: () => 0 }));
    assert.equal(plan.at, NOW + 30_000);
  });

  test('uses Math.random when no random is given and stays within the jitter band', () => {
    for (let i = 0; i < 50; i++) {
      const { at } = planRefresh(input({}));
      assert.ok(at >= NOW + HOUR * 0.95 && at <= NOW + HOUR * 1.05);
    }
  });
});

describe('planRefresh: invariants over random inputs', () => {
  test('never earlier than now + minDelay, and never later than the renewal window unless clamped', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = (max: number) => Math.floor(rnd() * max);
    for (let i = 0; i < 5000; i++) {
      const now = NOW + pick(10 * 24 * HOUR);
      const issuedAt = now - pick(24 * HOUR);
      const hasExpiry = rnd() < 0.85;
      const expiresAt = hasExpiry ? now + pick(48 * HOUR) - pick(6 * HOUR) : undefined;
      const renewBeforeMs = rnd() < 0.4 ? pick(24 * HOUR) : undefined;
      const minDelayMs = pick(5 * MIN);
      const intervalMs = 1 + pick(24 * HOUR);
      const jitter = rnd() < 0.5 ? undefined : rnd();
      const r = rnd();
      const inp: RefreshPlanInput = { now, issuedAt, expiresAt, renewBeforeMs, minDelayMs, intervalMs, random: () => r };
      if (jitter !== undefined) inp.jitter = jitter;
      const plan = planRefresh(inp);
      const ctx = JSON.stringify({ ...inp, r, plan });
      assert.ok(Number.isFinite(plan.at), ctx);
      if (plan.clamped !== 'too-short') assert.ok(plan.at >= now + minDelayMs, `earlier than now + minDelay: ${ctx}`);
      else assert.ok(plan.at >= now + Math.min(minDelayMs, 1000), `earlier than the one-second floor: ${ctx}`);
      if (expiresAt === undefined) {
        assert.equal(plan.clamped, undefined, ctx);
        const j = jitter ?? 0.1;
        assert.ok(plan.at <= Math.max(now + intervalMs * (1 + j / 2), now + minDelayMs) + 1e-6, ctx);
      } else if (expiresAt <= now) {
        assert.deepEqual(plan, { at: now + minDelayMs, clamped: 'expired' }, ctx);
      } else {
        const renewBefore = renewBeforeMs ?? Math.max(0, expiresAt - issuedAt) / 3;
        if (plan.clamped === undefined) {
          assert.ok(plan.at <= expiresAt - renewBefore + 1e-6, `later than the window: ${ctx}`);
          assert.ok(plan.at <= expiresAt, ctx);
        } else {
          assert.equal(plan.clamped, 'too-short', ctx);
          assert.equal(plan.at, Math.max(now + 1000, Math.min(now + minDelayMs, expiresAt - Math.min(5000, (expiresAt - now) / 4))), ctx);
          assert.ok(plan.at < expiresAt || expiresAt - now <= 1000, `a live credential refreshed before it expires: ${ctx}`);
          assert.ok(expiresAt - renewBefore - renewBefore * (jitter ?? 0.1) * r < now + minDelayMs, ctx);
        }
      }
    }
  });
});

describe('planRefresh: the tenant floor', () => {
  test('a broker answering a 2 s lifetime is refreshed once per floor, not just before each expiry', () => {
    const plan = planRefresh(input({ expiresAt: NOW + 2000, minDelayMs: 1000, floorMs: 60_000, random: () => 0 }));
    assert.deepEqual(plan, { at: NOW + 60_000, clamped: 'too-short' });
  });

  test('an expired credential waits the floor when it is longer than the minimum delay', () => {
    assert.deepEqual(planRefresh(input({ expiresAt: NOW - 1, minDelayMs: 1000, floorMs: 60_000 })), { at: NOW + 60_000, clamped: 'expired' });
  });

  test('a credential that never expires waits at least the floor', () => {
    const plan = planRefresh(input({ intervalMs: 1000, minDelayMs: 1000, floorMs: 60_000, random: () => 0.5 }));
    assert.equal(plan.at, NOW + 60_000);
  });

  test('a floor below the normal schedule changes nothing', () => {
    const a = planRefresh(input({ expiresAt: NOW + 12 * HOUR, random: () => 0 }));
    const b = planRefresh(input({ expiresAt: NOW + 12 * HOUR, random: () => 0, floorMs: 60_000 }));
    assert.deepEqual(a, b);
  });
});
