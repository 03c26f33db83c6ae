// What the self-managed webhook certificates should be, decided from what their Secret holds:
// the Secret's layout (read and written), and when the CA and the serving certificate are due for
// renewal. No API calls here: tls.ts reads and writes the Secret and patches the bundle.
import type { V1Secret } from '@kubernetes/client-node';
import { certInfo, generateCa, isPairSignedBy, issueServingCert, splitPem, type KeyPair } from './certs.js';

export const TLS_CERT_KEY = 'tls.crt';
export const TLS_KEY_KEY = 'tls.key';
export const CA_CERT_KEY = 'ca.crt';
export const CA_KEY_KEY = 'ca.key';

/** cert-manager's default: renew once two thirds of the lifetime have passed. */
export function renewalTime(notBefore: Date, notAfter: Date): number {
  return notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
}

export interface StoredCertificates {
  /** CA certificates, newest first: the one that signs, then older ones not expired yet. */
  caBundle: string[];
  ca?: KeyPair | undefined;
  serving?: KeyPair | undefined;
}

/** What the certificates should be now, given what is stored: unchanged, or renewed where due. */
export function planCertificates(
  stored: StoredCertificates,
  opts: { now: Date; hosts: readonly string[]; caValidityMs: number; certValidityMs: number; commonName: string },
): { result: StoredCertificates; renewed: Array<'ca' | 'serving'>; nextCheckAt: number } {
  const now = opts.now.getTime();
  const caInfo = stored.ca ? certInfo(stored.ca.certPem) : undefined;
  const caUsable = !!stored.ca && !!caInfo?.isCa && caInfo.notBefore.getTime() <= now + 5 * 60_000 && now < renewalTime(caInfo.notBefore, caInfo.notAfter) && isPairSignedBy(stored.ca, stored.ca.certPem);
  const renewed: Array<'ca' | 'serving'> = [];
  let ca = stored.ca;
  if (!caUsable || !ca) {
    ca = generateCa({ commonName: opts.commonName, now: opts.now, validityMs: opts.caValidityMs });
    renewed.push('ca');
  }
  const servingInfo = stored.serving ? certInfo(stored.serving.certPem) : undefined;
  const hostsMatch = !!servingInfo && servingInfo.hosts.length === opts.hosts.length && opts.hosts.every((h) => servingInfo.hosts.includes(h));
  let serving = stored.serving;
  const servingUsable =
    renewed.length === 0 && !!serving && !!servingInfo && hostsMatch && now < renewalTime(servingInfo.notBefore, servingInfo.notAfter) && isPairSignedBy(serving, ca.certPem);
  if (!servingUsable || !serving) {
    serving = issueServingCert(ca, { hosts: opts.hosts, now: opts.now, validityMs: opts.certValidityMs });
    renewed.push('serving');
  }
  // The signing CA first, then older CAs until they expire.
  const older = stored.caBundle.filter((pem) => {
    const info = certInfo(pem);
    return info && info.notAfter.getTime() > now && pem.trim() !== ca.certPem.trim();
  });
  const caBundle = [ca.certPem, ...older];
  const caNow = certInfo(ca.certPem)!;
  const servingNow = certInfo(serving.certPem)!;
  const nextCheckAt = Math.min(renewalTime(caNow.notBefore, caNow.notAfter), renewalTime(servingNow.notBefore, servingNow.notAfter));
  return { result: { caBundle, ca, serving }, renewed, nextCheckAt };
}

function decode(secret: V1Secret | null, key: string): string | undefined {
  const v = secret?.data?.[key];
  return v ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

export function readStored(secret: V1Secret | null): StoredCertificates {
  const caBundle = splitPem(decode(secret, CA_CERT_KEY) ?? '');
  const caKey = decode(secret, CA_KEY_KEY);
  const cert = decode(secret, TLS_CERT_KEY);
  const key = decode(secret, TLS_KEY_KEY);
  return {
    caBundle,
    ca: caBundle[0] && caKey ? { certPem: caBundle[0], keyPem: caKey } : undefined,
    serving: cert && key ? { certPem: cert, keyPem: key } : undefined,
  };
}

/** The Secret's data (base64) for the certificates planCertificates returned: the layout readStored reads. */
export function secretData(certs: StoredCertificates): Record<string, string> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    [TLS_CERT_KEY]: b64(certs.serving!.certPem),
    [TLS_KEY_KEY]: b64(certs.serving!.keyPem),
    [CA_CERT_KEY]: b64(certs.caBundle.join('')),
    [CA_KEY_KEY]: b64(certs.ca!.keyPem),
  };
}
