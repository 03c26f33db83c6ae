// The mutating admission webhook's HTTPS endpoint (admission.k8s.io/v1 AdmissionReview):
// POST /mutate-v1-pod adds the imagePullSecrets a new Pod needs, after making sure those Secrets
// exist in its namespace. It never refuses a Pod and never waits on a credential provider: what it
// writes comes from a credential regcred already holds. node:https rather than a framework: one
// route, and the serving certificate must be swapped in place when it is renewed (setSecureContext).
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { ANNOTATION_INJECT, decidePod, decideServiceAccount, type PodLike, type PullSecretCandidate, type ServiceAccountLike } from './admission.js';
import type { CertificateSource } from './tls.js';

export const POD_PATH = '/mutate-v1-pod';
export const SERVICE_ACCOUNT_PATH = '/mutate-v1-serviceaccount';
/** The API server sends at most 3 MiB objects; leave room for the review around it. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface NamespaceCandidates {
  candidates: PullSecretCandidate[];
  /** The namespace is annotated regcred.dev/inject: "false". */
  optedOut?: boolean;
}

export interface PodAdmissionBackend {
  /** The pull secrets of credentials that target the namespace, with the registries each holds. */
  candidatesFor(namespace: string, signal: AbortSignal): Promise<NamespaceCandidates>;
  /** Makes sure the Secret exists in the namespace, from a credential already minted; no provider call. */
  ensureSecret(candidate: PullSecretCandidate, namespace: string, signal: AbortSignal): Promise<'exists' | 'created' | 'unavailable'>;
}

export interface WebhookServerOptions {
  host: string;
  port: number;
  certificates: CertificateSource;
  backend: PodAdmissionBackend;
  log: Logger;
  /** Time allowed for writing missing Secrets before answering anyway (the reference is added regardless). */
  budgetMs?: number;
  onAdmission?: (result: 'patched' | 'unchanged' | 'error') => void;
}

interface AdmissionRequest {
  uid?: string;
  kind?: { group?: string; version?: string; kind?: string };
  namespace?: string;
  operation?: string;
  dryRun?: boolean;
  object?: PodLike & ServiceAccountLike;
}

interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface WebhookServer {
  port: number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Decides one AdmissionRequest for a Pod (or, at /mutate-v1-serviceaccount, a ServiceAccount);
 * never throws (an error admits the object unchanged).
 */
export async function admit(
  request: AdmissionRequest,
  opts: Pick<WebhookServerOptions, 'backend' | 'log' | 'budgetMs'>,
  kind: 'Pod' | 'ServiceAccount' = 'Pod',
): Promise<{ response: AdmissionResponse; result: 'patched' | 'unchanged' | 'error' }> {
  const uid = request.uid ?? '';
  const unchanged = { response: { uid, allowed: true as const }, result: 'unchanged' as const };
  const namespace = request.namespace ?? '';
  if (request.kind?.kind !== kind || request.operation !== 'CREATE' || !request.object || !namespace) return unchanged;
  const pod = request.object;
  if (pod.metadata?.annotations?.[ANNOTATION_INJECT] === 'false') return unchanged;
  const budget = AbortSignal.timeout(opts.budgetMs ?? 3000);
  const podName = pod.metadata?.name ?? `${pod.metadata?.generateName ?? ''}*`;
  try {
    const { candidates, optedOut } = await opts.backend.candidatesFor(namespace, budget);
    if (optedOut) return unchanged;
    const decision = kind === 'Pod' ? decidePod(pod, candidates) : decideServiceAccount(pod, candidates);
    if (decision.added.length === 0) return unchanged;
    const warnings: string[] = [];
    // A dry run must have no side effects (sideEffects: NoneOnDryRun): the patch only.
    if (!request.dryRun) {
      const outcomes = await Promise.all(
        decision.added.map((c) =>
          opts.backend.ensureSecret(c, namespace, budget).catch((err: unknown) => {
            opts.log.warn({ namespace, secret: c.secretName, err: errorMessage(err) }, 'webhook: cannot write the pull secret; referencing it anyway (the controller will)');
            return 'unavailable' as const;
          }),
        ),
      );
      outcomes.forEach((o, i) => {
        if (o === 'unavailable') warnings.push(`regcred: pull secret ${decision.added[i]!.secretName} is not written yet; the controller will write it`);
      });
    }
    opts.log.info({ namespace, [kind === 'Pod' ? 'pod' : 'serviceAccount']: podName, added: decision.added.map((c) => c.secretName), dryRun: !!request.dryRun }, 'webhook: added imagePullSecrets');
    return {
      response: {
        uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(decision.patch)).toString('base64'),
        ...(warnings.length ? { warnings } : {}),
      },
      result: 'patched',
    };
  } catch (err) {
    opts.log.warn({ namespace, pod: podName, err: errorMessage(err) }, 'webhook: admitting the Pod unchanged');
    return { response: { uid, allowed: true }, result: 'error' };
  }
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const initial = opts.certificates.current();
  if (!initial) throw new Error('no serving certificate yet');
  const server: Server = createServer({ cert: initial.certPem, key: initial.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    void handle(req, res);
  });
  opts.certificates.onChange((m) => {
    server.setSecureContext({ cert: m.certPem, key: m.keyPem, minVersion: 'TLSv1.2' });
    opts.log.info({}, 'webhook: serving the renewed certificate');
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const kind = path === POD_PATH ? 'Pod' : path === SERVICE_ACCOUNT_PATH ? 'ServiceAccount' : undefined;
    if (req.method !== 'POST' || !kind) return reply(res, 404, { message: 'not found' });
    let review: { apiVersion?: string; request?: AdmissionRequest };
    try {
      review = JSON.parse(await readBody(req)) as typeof review;
    } catch (err) {
      opts.onAdmission?.('error');
      return reply(res, 400, { message: `invalid AdmissionReview: ${errorMessage(err)}` });
    }
    const { response, result } = await admit(review.request ?? {}, opts, kind);
    opts.onAdmission?.(result);
    reply(res, 200, { apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host || undefined, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ port, paths: [POD_PATH, SERVICE_ACCOUNT_PATH] }, 'webhook listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
