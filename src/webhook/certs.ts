// X.509 for the webhook's serving certificate: a self-signed CA and a serving certificate it signs.
// Keys come from node:crypto (native, fast); node-forge only encodes and signs the certificates,
// since Node can parse X.509 (crypto.X509Certificate) but cannot build one.
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface CertInfo {
  notBefore: Date;
  notAfter: Date;
  serial: string;
  subject: string;
  /** DNS names and IP addresses it is valid for. */
  hosts: string[];
  isCa: boolean;
}

/** Back-dated a little: the API server's clock may run behind ours. */
const CLOCK_SKEW_MS = 5 * 60_000;

function newKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // PKCS#1: the form node-forge reads.
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { pem, forgeKey, forgePublic: forge.pki.rsa.setPublicKey(forgeKey.n, forgeKey.e) };
}

/** node-forge writes CRLF; everything else (Node, kubectl, our Secret) uses LF. */
const lf = (pem: string) => pem.replace(/\r\n/g, '\n');

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive
  return bytes.toString('hex');
}

function baseCertificate(publicKey: forge.pki.PublicKey, now: Date, validityMs: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  // At most a tenth of the lifetime, so the renewal point (2/3 of it) stays where it is meant to be.
  cert.validity.notBefore = new Date(now.getTime() - Math.min(CLOCK_SKEW_MS, validityMs / 10));
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  return cert;
}

/** A self-signed CA that signs only certificates (keyCertSign), for the webhook alone. */
export function generateCa(opts: { commonName: string; now: Date; validityMs: number }): KeyPair {
  const key = newKey();
  const cert = baseCertificate(key.forgePublic, opts.now, opts.validityMs);
  const name = [{ name: 'commonName', value: opts.commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { certPem: lf(forge.pki.certificateToPem(cert)), keyPem: key.pem };
}

/** A serving certificate for `hosts` (DNS names or IP addresses), signed by `ca`. */
export function issueServingCert(ca: KeyPair, opts: { hosts: readonly string[]; now: Date; validityMs: number }): KeyPair {
  if (opts.hosts.length === 0) throw new Error('a serving certificate needs at least one host');
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(createPrivateKey(ca.keyPem).export({ type: 'pkcs1', format: 'pem' }).toString());
  const key = newKey();
  // Never valid beyond its CA: the API server would reject the chain after the CA expires.
  const validityMs = Math.min(opts.validityMs, caCert.validity.notAfter.getTime() - opts.now.getTime());
  const cert = baseCertificate(key.forgePublic, opts.now, validityMs);
  cert.setSubject([{ name: 'commonName', value: opts.hosts[0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // type 7: IP address, type 2: DNS name (RFC 5280 §4.2.1.6)
    { name: 'subjectAltName', altNames: opts.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: lf(forge.pki.certificateToPem(cert)), keyPem: key.pem };
}

/** The certificates in a PEM bundle, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith('\n') ? c : `${c}\n`)) ?? [];
}

/** What regcred needs to know of a certificate; undefined if it does not parse. */
export function certInfo(pem: string): CertInfo | undefined {
  try {
    const x = new X509Certificate(pem);
    const hosts = (x.subjectAltName ?? '')
      .split(/,\s*/)
      .map((s) => /^(?:DNS|IP Address):(.+)$/.exec(s.trim())?.[1])
      .filter((h): h is string => !!h);
    return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), serial: x.serialNumber, subject: x.subject, hosts, isCa: x.ca };
  } catch {
    return undefined;
  }
}

/** Whether `certPem` was signed by `caPem` and `keyPem` is its private key. */
export function isPairSignedBy(pair: KeyPair, caPem: string): boolean {
  try {
    const cert = new X509Certificate(pair.certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey) && cert.checkPrivateKey(createPrivateKey(pair.keyPem));
  } catch {
    return false;
  }
}
