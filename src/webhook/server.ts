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
import { ByteBudget, ClientGone, readBody, Refusal, refuse, reply } from './request-limits.js';
import type { CertificateSource } from './tls.js';

export const POD_PATH = '/mutate-v1-pod';
export const SERVICE_ACCOUNT_PATH = '/mutate-v1-serviceaccount';
/**
 * The largest AdmissionReview accepted. The API server refuses request bodies over 3 MiB
 * (apiserver's MaxRequestBodyBytes), so the Pod or ServiceAccount it sends for review is at most
 * that as JSON (neither kind has binary fields that JSON would grow), plus what the API server adds
 * before admission (managedFields, defaults) and the review around it (uid, kind, userInfo, options:
 * a few KiB). 512 KiB covers that. Anything larger is not from the API server: it is refused with
 * 413 without being read into memory (and an oversized object from the API server would only go
 * unmutated, failurePolicy Ignore).
 */
export const MAX_BODY_BYTES = 3 * 1024 * 1024 + 512 * 1024;
/** Admission requests handled at once (--webhook-max-in-flight); more are answered 429. */
export const DEFAULT_MAX_IN_FLIGHT = 16;
/**
 * Request bytes held in memory across all requests at once. Real reviews are a few KiB; this stops
 * a handful of maximal bodies (each a string and its parsed object several times its size on the
 * heap) from filling the controller's small heap. Beyond it: 429.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * Time allowed to receive a whole request, headers and body (the API server gives up after the
 * configuration's timeoutSeconds, at most 30 s, default 5 s here). A slow sender is answered 408.
 */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;

/** What the webhook answered, for regcred_webhook_admissions_total{result}. */
export type AdmissionResult = 'patched' | 'unchanged' | 'error' | 'too_large' | 'throttled' | 'timeout';

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
  /** Requests handled at once; default DEFAULT_MAX_IN_FLIGHT. */
  maxInFlight?: number;
  /** Largest request body; default MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Request bytes held in memory across requests; default DEFAULT_MAX_BUFFERED_BYTES. */
  maxBufferedBytes?: number;
  /** Time to receive a whole request; default DEFAULT_READ_TIMEOUT_MS. */
  readTimeoutMs?: number;
  onAdmission?: (result: AdmissionResult) => void;
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
  const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  let inFlight = 0;
  const buffered = new ByteBudget(maxBufferedBytes);
  const server: Server = createServer(
    {
      cert: initial.certPem,
      key: initial.keyPem,
      minVersion: 'TLSv1.2',
      // Slow senders: the TLS handshake and the headers within the read timeout too (the body's
      // own timer, in readBody, answers 408 and is counted); requestTimeout is the backstop.
      handshakeTimeout: readTimeoutMs,
      headersTimeout: readTimeoutMs,
      requestTimeout: readTimeoutMs + 5_000,
      connectionsCheckingInterval: Math.min(1_000, readTimeoutMs),
    },
    (req, res) => {
      void handle(req, res);
    },
  );
  opts.certificates.onChange((m) => {
    server.setSecureContext({ cert: m.certPem, key: m.keyPem, minVersion: 'TLSv1.2' });
    opts.log.info({}, 'webhook: serving the renewed certificate');
  });

  let refusalsLogged = 0;
  function refused(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
    opts.onAdmission?.(refusal.result);
    // Logged, but not one line per request of a flood: the metric counts them all.
    if (refusalsLogged++ % 100 === 0) opts.log.warn({ status: refusal.status, reason: refusal.message, refusals: refusalsLogged }, 'webhook: request refused');
    refuse(req, res, refusal);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const kind = path === POD_PATH ? 'Pod' : path === SERVICE_ACCOUNT_PATH ? 'ServiceAccount' : undefined;
    if (req.method !== 'POST' || !kind) return reply(res, 404, { message: 'not found' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) return refused(req, res, new Refusal(413, 'too_large', `request body over ${maxBodyBytes} bytes`));
    if (inFlight >= maxInFlight) return refused(req, res, new Refusal(429, 'throttled', `${maxInFlight} admission requests in flight`));
    inFlight++;
    const held = { bytes: 0 };
    try {
      let review: { apiVersion?: string; request?: AdmissionRequest };
      try {
        const text = await readBody(req, { maxBytes: maxBodyBytes, timeoutMs: readTimeoutMs, take: (n) => buffered.take(n) }, held);
        review = JSON.parse(text) as typeof review;
      } catch (err) {
        if (err instanceof Refusal) return refused(req, res, err);
        if (err instanceof ClientGone) return;
        opts.onAdmission?.('error');
        return reply(res, 400, { message: `invalid AdmissionReview: ${errorMessage(err)}` });
      }
      const { response, result } = await admit(review.request ?? {}, opts, kind);
      opts.onAdmission?.(result);
      reply(res, 200, { apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
    } finally {
      // Held until answered: the parsed review lives as long as the request.
      buffered.give(held.bytes);
      inFlight--;
    }
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
