// Unit tests for src/webhook/certificate-plan.ts: renewal at 2/3 of the lifetime, a renewed CA kept
// in the bundle until it expires, and the Secret's layout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planCertificates, readStored, renewalTime, secretData } from '../../src/webhook/certificate-plan.js';
import { certInfo, generateCa, isPairSignedBy, issueServingCert, splitPem } from '../../src/webhook/certs.js';

const T0 = new Date('2026-11-23T12:00:00Z');
const HOUR = 3600_000;

const opts = (now: Date, hosts = ['127.0.0.1']) => ({ now, hosts, caValidityMs: 30 * HOUR, certValidityMs: 3 * HOUR, commonName: 'regcred-webhook-ca.test' });

test('planCertificates: first run makes both; then nothing until 2/3 of the serving lifetime', () => {
  const first = planCertificates({ caBundle: [] }, opts(T0));
  assert.deepEqual(first.renewed, ['ca', 'serving']);
  assert.equal(first.result.caBundle.length, 1);
  const info = certInfo(first.result.serving!.certPem)!;
  assert.equal(first.nextCheckAt, renewalTime(info.notBefore, info.notAfter));
  assert.ok(Math.abs(first.nextCheckAt - (T0.getTime() + 2 * HOUR)) < 30 * 60_000, 'about 2 h of 3 h');
  const again = planCertificates(first.result, opts(new Date(T0.getTime() + HOUR)));
  assert.deepEqual(again.renewed, []);
  assert.equal(again.result.serving, first.result.serving);
  const due = planCertificates(first.result, opts(new Date(first.nextCheckAt + 1000)));
  assert.deepEqual(due.renewed, ['serving']);
  assert.equal(due.result.ca, first.result.ca, 'the CA is kept');
  assert.ok(isPairSignedBy(due.result.serving!, first.result.ca!.certPem));
});

test('planCertificates: other hosts, a foreign or broken certificate → a new serving certificate', () => {
  const first = planCertificates({ caBundle: [] }, opts(T0));
  assert.deepEqual(planCertificates(first.result, opts(T0, ['regcred-webhook.x.svc'])).renewed, ['serving']);
  const foreign = generateCa({ commonName: 'foreign', now: T0, validityMs: HOUR });
  const stranger = issueServingCert(foreign, { hosts: ['127.0.0.1'], now: T0, validityMs: HOUR });
  assert.deepEqual(planCertificates({ ...first.result, serving: stranger }, opts(T0)).renewed, ['serving']);
  assert.deepEqual(planCertificates({ ...first.result, serving: { certPem: 'junk', keyPem: 'junk' } }, opts(T0)).renewed, ['serving']);
  assert.deepEqual(planCertificates({ ...first.result, ca: { certPem: first.result.ca!.certPem, keyPem: foreign.keyPem } }, opts(T0)).renewed, ['ca', 'serving']);
});

test('planCertificates: a renewed CA signs a new certificate; the old CA stays in the bundle until it expires', () => {
  const first = planCertificates({ caBundle: [] }, opts(T0));
  const caInfo = certInfo(first.result.ca!.certPem)!;
  const at = new Date(renewalTime(caInfo.notBefore, caInfo.notAfter) + 1000);
  const renewed = planCertificates(first.result, opts(at));
  assert.deepEqual(renewed.renewed, ['ca', 'serving']);
  assert.equal(renewed.result.caBundle.length, 2);
  assert.equal(renewed.result.caBundle[0], renewed.result.ca!.certPem, 'the signing CA first');
  assert.equal(renewed.result.caBundle[1], first.result.ca!.certPem);
  assert.ok(isPairSignedBy(renewed.result.serving!, renewed.result.ca!.certPem));
  const afterOldExpired = planCertificates(renewed.result, opts(new Date(caInfo.notAfter.getTime() + 1000)));
  assert.equal(afterOldExpired.result.caBundle.length, 1, 'the expired CA is dropped');
});

test('readStored reads what the Secret holds; splitPem keeps every certificate of a bundle', () => {
  const first = planCertificates({ caBundle: [] }, opts(T0));
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const stored = readStored({
    data: { 'ca.crt': b64(first.result.caBundle.join('')), 'ca.key': b64(first.result.ca!.keyPem), 'tls.crt': b64(first.result.serving!.certPem), 'tls.key': b64(first.result.serving!.keyPem) },
  });
  assert.deepEqual(stored, first.result);
  assert.deepEqual(readStored(null), { caBundle: [], ca: undefined, serving: undefined });
  assert.equal(splitPem(first.result.caBundle[0]! + first.result.serving!.certPem).length, 2);
});

test('secretData writes what readStored reads', () => {
  const first = planCertificates({ caBundle: [] }, opts(T0));
  const renewed = planCertificates(first.result, opts(new Date(T0.getTime() + 25 * HOUR))).result;
  assert.equal(renewed.caBundle.length, 2);
  const data = secretData(renewed);
  assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  assert.deepEqual(readStored({ data }), renewed);
});
