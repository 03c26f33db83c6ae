// The webhook's certificates: a CA and a serving certificate that Node's own X.509 parser and
// TLS stack accept, renewal at 2/3 of the lifetime, a renewed CA kept in the bundle until it expires.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { certInfo, generateCa, isPairSignedBy, issueServingCert, splitPem } from '../../src/webhook/certs.js';
import { planCertificates, readStored, renewalTime } from '../../src/webhook/tls.js';

const T0 = new Date('2026-11-23T12:00:00Z');
const HOUR = 3600_000;

test('a CA and a serving certificate for DNS names and IPs, verified by Node', () => {
  const ca = generateCa({ commonName: 'test-ca', now: T0, validityMs: 10 * HOUR });
  const serving = issueServingCert(ca, { hosts: ['regcred-webhook.regcred-system.svc', '127.0.0.1'], now: T0, validityMs: HOUR });
  const caX = new X509Certificate(ca.certPem);
  const x = new X509Certificate(serving.certPem);
  assert.equal(caX.ca, true);
  assert.equal(x.ca, false);
  assert.ok(x.checkIssued(caX) && x.verify(caX.publicKey));
  assert.equal(x.checkHost('regcred-webhook.regcred-system.svc'), 'regcred-webhook.regcred-system.svc');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(x.checkHost('other.svc'), undefined);
  assert.deepEqual(certInfo(serving.certPem)?.hosts, ['regcred-webhook.regcred-system.svc', '127.0.0.1']);
  assert.equal(new Date(x.validTo).getTime(), T0.getTime() + HOUR);
  assert.ok(isPairSignedBy(serving, ca.certPem));
  const other = generateCa({ commonName: 'other', now: T0, validityMs: HOUR });
  assert.equal(isPairSignedBy(serving, other.certPem), false);
  assert.equal(isPairSignedBy({ certPem: serving.certPem, keyPem: other.keyPem }, ca.certPem), false, 'a key that is not the certificate\'s');
});

test('a serving certificate never outlives its CA', () => {
  const ca = generateCa({ commonName: 'short', now: T0, validityMs: HOUR });
  const serving = issueServingCert(ca, { hosts: ['a.svc'], now: T0, validityMs: 100 * HOUR });
  assert.equal(certInfo(serving.certPem)!.notAfter.getTime(), certInfo(ca.certPem)!.notAfter.getTime());
});

test('a TLS client trusting only the CA connects to a server using the certificate', async () => {
  const now = new Date();
  const ca = generateCa({ commonName: 'tls-ca', now, validityMs: HOUR });
  const serving = issueServingCert(ca, { hosts: ['127.0.0.1'], now, validityMs: HOUR });
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const authorized = await new Promise<boolean>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ca: ca.certPem }, () => {
        resolve(s.authorized);
        s.end();
      });
      s.on('error', reject);
    });
    assert.equal(authorized, true);
  } finally {
    server.close();
  }
});

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
