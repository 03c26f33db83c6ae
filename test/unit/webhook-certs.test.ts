// The webhook's certificates: a CA and a serving certificate that Node's own X.509 parser and
// TLS stack accept. When they are renewed: webhook-certificate-plan.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { certInfo, generateCa, isPairSignedBy, issueServingCert } from '../../src/webhook/certs.js';

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
