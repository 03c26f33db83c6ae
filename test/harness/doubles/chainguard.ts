// A local double of Chainguard's STS (the issuer's token exchange), on a loopback HTTP server. Its
// URL is the issuer URL regcred is configured with. It follows what Chainguard documents and its
// clients send:
// - `POST {issuer}/sts/exchange?aud=<audience>&identity=<identity UIDP>` with
//   `Authorization: Bearer <OIDC token>` (the curl examples of
//   https://edu.chainguard.dev/chainguard/administration/assumable-ids/assumable-ids/ and the
//   identity examples; chainguard-dev/sdk sts.HTTP1DowngradeExchanger posts the same fields as JSON
//   to the same path, which this double also reads);
// - an assumable identity binds an issuer and a subject
//   (`chainctl iam identities create --identity-issuer --subject`, see the pull-secret-updater seed):
//   the bearer token must verify against the issuer's keys (here the real API server's JWKS), come
//   from that issuer, carry the issuer URL (this double's own URL) as audience, be unexpired, and
//   have a subject the identity allows;
// - the answer is {"token": "<JWT>"} whose `exp` is an hour away; errors are gRPC-gateway JSON
//   {"code": <grpc code>, "message": "...", "details": []} with the matching HTTP status.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { failureSwitch, listenLoopback, recordingAnswer, readBody, sendJson as send, signHs256, type TokenExchangeDouble } from './http-util.js';
import { verifyServiceAccountToken, type Jwks } from './sa-token.js';
import { rememberSecret } from '../leak-guard.js';

export interface ChainguardDoubleOptions {
  /** The cluster's service-account keys (apiServerJwks(cp)). */
  jwks: Jwks;
  /** The service-account token issuer the identities trust (cp.issuer). */
  kubeIssuer: string;
  /** Known identities: UIDP → the subjects (`system:serviceaccount:<ns>:<name>`) each allows. */
  identities: Record<string, readonly string[]>;
}

export interface ChainguardExchangeRecord {
  identity: string | null;
  aud: string | null;
  /** The verified bearer token's claims, when it verified. */
  subject?: string;
  tokenAud?: unknown;
  status: number;
}

export interface ChainguardDouble extends TokenExchangeDouble {
  /** http://127.0.0.1:<port>: the issuer URL. */
  url: string;
  /** Every exchange call, in order. */
  requests: ChainguardExchangeRecord[];
}

/** gRPC status codes the gateway maps to HTTP statuses. */
const GRPC = { InvalidArgument: 3, NotFound: 5, PermissionDenied: 7, Unauthenticated: 16 } as const;

export async function startChainguardDouble(opts: ChainguardDoubleOptions): Promise<ChainguardDouble> {
  const signingKey = randomBytes(32);
  const requests: ChainguardExchangeRecord[] = [];
  const bearers: string[] = [];
  const issued: string[] = [];
  const failures = failureSwitch();
  let url = '';

  const mint = (identity: string, aud: string): string => {
    const now = Math.floor(Date.now() / 1000);
    return signHs256(signingKey, { iss: url, sub: identity, aud: [aud], iat: now, exp: now + 3600, jti: randomBytes(8).toString('hex') });
  };

  const server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://localhost');
      if (u.pathname !== '/sts/exchange') return send(res, 404, { code: GRPC.NotFound, message: 'Not Found', details: [] });
      if (req.method !== 'POST') return send(res, 405, { code: 12, message: 'Method Not Allowed', details: [] });
      const body = await readBody(req);
      let identity = u.searchParams.get('identity');
      let aud = u.searchParams.get('aud');
      if (body.trim()) {
        try {
          const json = JSON.parse(body) as { aud?: string[]; identity?: string };
          identity ??= json.identity ?? null;
          aud ??= json.aud?.[0] ?? null;
        } catch {
          return send(res, 400, { code: GRPC.InvalidArgument, message: 'invalid request body', details: [] });
        }
      }
      const record: ChainguardExchangeRecord = { identity, aud, status: 0 };
      requests.push(record);
      const answer = recordingAnswer(res, record);
      if (failures.answerIfDue(answer)) return;
      const auth = req.headers.authorization ?? '';
      const m = /^Bearer (\S+)$/i.exec(auth);
      if (!m) return answer(401, { code: GRPC.Unauthenticated, message: 'missing bearer token', details: [] });
      const token = m[1]!;
      bearers.push(token);
      rememberSecret(token);
      if (!aud) return answer(400, { code: GRPC.InvalidArgument, message: 'aud is required', details: [] });
      const checked = verifyServiceAccountToken(token, opts.jwks, { issuer: opts.kubeIssuer, audience: url });
      if ('error' in checked) return answer(401, { code: GRPC.Unauthenticated, message: `unable to verify bearer token: ${checked.error}`, details: [] });
      record.subject = String(checked.claims['sub']);
      record.tokenAud = checked.claims['aud'];
      if (!identity) return answer(400, { code: GRPC.InvalidArgument, message: 'identity is required', details: [] });
      const subjects = opts.identities[identity];
      if (!subjects) return answer(404, { code: GRPC.NotFound, message: `identity ${identity} not found`, details: [] });
      if (!subjects.includes(record.subject)) {
        return answer(403, { code: GRPC.PermissionDenied, message: `subject ${record.subject} may not assume identity ${identity}`, details: [] });
      }
      const minted = mint(identity, aud);
      issued.push(minted);
      rememberSecret(minted);
      answer(200, { token: minted });
    })().catch((err: unknown) => send(res, 500, { code: 13, message: String(err), details: [] }));
  });
  const { port, stop } = await listenLoopback(server);
  url = `http://127.0.0.1:${port}`;
  return { url, requests, bearers, issued, failNext: failures.failNext, clearFailures: failures.clearFailures, stop };
}
