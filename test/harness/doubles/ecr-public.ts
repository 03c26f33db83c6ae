// A local stand-in for the Amazon ECR Public API (moto does not implement ECR Public): just
// GetAuthorizationToken, as documented at
// https://docs.aws.amazon.com/AmazonECRPublic/latest/APIReference/API_GetAuthorizationToken.html
// (protocol awsJson1_1, target "SpencerFrontendService.GetAuthorizationToken" as the SDK's
// serializer sends it; SigV4 with service "ecr-public" in us-east-1).
// It checks the SigV4 Authorization header (credential scope, and the signature itself, recomputed
// with the secret key it expects), answers {"authorizationData":{"authorizationToken","expiresAt"}}
// and records every request. Anything else: 400 with an AWS-style JSON error.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { listenLoopback } from './http-util.js';
import { rememberLogin, rememberSecret } from '../leak-guard.js';

export const ECR_PUBLIC_TARGET = 'SpencerFrontendService.GetAuthorizationToken';

export interface EcrPublicRequest {
  target: string | undefined;
  authorization: string | undefined;
  /** Parsed from the credential scope. */
  accessKeyId?: string;
  date?: string;
  region?: string;
  service?: string;
  /** Whether the recomputed signature matched. */
  signatureValid: boolean;
  status: number;
}

export interface EcrPublicDouble {
  endpoint: string;
  /** The password handed out (token is base64("AWS:" + password)). */
  password: string;
  expiresAt: Date;
  requests: EcrPublicRequest[];
  /** The keys requests must be signed with. */
  expect: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** SigV4 signature of a request with an empty query string. */
function signature(req: IncomingMessage, body: Buffer, signedHeaders: string, scope: string[], secret: string): string {
  const [date, region, service] = scope as [string, string, string];
  const headers = signedHeaders
    .split(';')
    .map((h) => {
      const v = req.headers[h];
      const value = Array.isArray(v) ? v.join(',') : (v ?? '');
      return `${h}:${value.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const path = (req.url ?? '/').split('?')[0] || '/';
  const canonical = ['POST', path, '', headers, signedHeaders, sha256(body)].join('\n');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/${service}/aws4_request`, sha256(canonical)].join('\n');
  const kDate = hmac(`AWS4${secret}`, date);
  const kSigning = hmac(hmac(hmac(kDate, region), service), 'aws4_request');
  return createHmac('sha256', kSigning).update(stringToSign).digest('hex');
}

export async function startEcrPublicDouble(expect: { accessKeyId: string; secretAccessKey: string }): Promise<EcrPublicDouble> {
  const password = `ecrpub-${randomBytes(24).toString('base64url')}`;
  rememberSecret(expect.secretAccessKey);
  // The token is base64("AWS:" + password): the docker config `auth` regcred writes.
  rememberLogin('AWS', password);
  // Whole seconds: the API states expiresAt as epoch seconds.
  const expiresAt = new Date((Math.floor(Date.now() / 1000) + 12 * 3600) * 1000);
  const requests: EcrPublicRequest[] = [];
  const state = { expect };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = req.headers['x-amz-target'] as string | undefined;
      const authorization = req.headers['authorization'];
      const rec: EcrPublicRequest = { target, authorization, signatureValid: false, status: 400 };
      requests.push(rec);
      const fail = (status: number, type: string, message: string) => {
        rec.status = status;
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
        res.end(JSON.stringify({ __type: type, message }));
      };
      if (req.method !== 'POST') return fail(400, 'UnsupportedOperation', `method ${req.method} not supported`);
      if (target !== ECR_PUBLIC_TARGET) return fail(400, 'UnknownOperationException', `unknown target ${String(target)}`);
      const m = AUTH_RE.exec(authorization ?? '');
      if (!m) return fail(400, 'MissingAuthenticationTokenException', 'missing or malformed SigV4 Authorization header');
      const [, keyId, date, region, service, signedHeaders, sig] = m as unknown as [string, string, string, string, string, string, string];
      Object.assign(rec, { accessKeyId: keyId, date, region, service });
      if (region !== 'us-east-1' || service !== 'ecr-public') {
        return fail(400, 'InvalidSignatureException', `credential scope must be us-east-1/ecr-public, not ${region}/${service}`);
      }
      if (keyId !== state.expect.accessKeyId) {
        return fail(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
      }
      rec.signatureValid = signature(req, body, signedHeaders, [date, region, service], state.expect.secretAccessKey) === sig;
      if (!rec.signatureValid) {
        return fail(400, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
      }
      rec.status = 200;
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          authorizationData: {
            authorizationToken: Buffer.from(`AWS:${password}`).toString('base64'),
            expiresAt: expiresAt.getTime() / 1000,
          },
        }),
      );
    });
  });
  const { port, stop } = await listenLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    password,
    expiresAt,
    requests,
    get expect() {
      return state.expect;
    },
    set expect(v) {
      state.expect = v;
    },
    stop,
  };
}
