// Where the webhook's serving certificate comes from:
//  - SelfManagedCertificates (the default): regcred generates a CA and a serving certificate, keeps
//    them in a Secret in its namespace (so every replica serves the same pair and a restart keeps
//    it), patches the CA bundle into its MutatingWebhookConfiguration, and renews each at 2/3 of
//    its lifetime (cert-manager's default). A renewed CA stays in the bundle until it expires, so a
//    replica still serving a certificate from the old CA remains trusted. The bundle is patched
//    before the Secret is written: no replica serves a certificate the API server does not trust yet.
//  - FileCertificates (`--webhook-cert-dir`): tls.crt/tls.key provided by someone else (cert-manager,
//    whose cainjector fills the CA bundle), re-read when they change.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import { kubeClient, type ClusterSource } from '../kube/api/client.js';
import type { CoreApi, WebhookConfigurationApi } from '../kube/api/resources.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { statusCode, withApiRetry } from '../kube/client.js';
import { readSecret } from '../kube/secrets.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { planCertificates, readStored, secretData, TLS_CERT_KEY, TLS_KEY_KEY, type StoredCertificates } from './certificate-plan.js';
import { certInfo, type KeyPair } from './certs.js';

export interface ServingMaterial {
  certPem: string;
  keyPem: string;
}

export interface CertificateSource {
  /** Resolves once there is a certificate to serve. */
  start(): Promise<void>;
  current(): ServingMaterial | undefined;
  /** Called with each new certificate after the first. */
  onChange(listener: (m: ServingMaterial) => void): void;
  stop(): Promise<void>;
}

export interface SelfManagedOptions {
  kubeConfig: ClusterSource;
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose webhooks get the CA bundle. */
  configurationName: string;
  hosts: readonly string[];
  caValidityMs: number;
  certValidityMs: number;
  log: Logger;
  clock?: Clock;
  /** How often the Secret is re-read (another replica may have renewed) and the bundle re-asserted. */
  recheckMs?: number;
  /** After publishing a bundle with a new CA, wait this long before serving a certificate it signed (default 10 s). */
  caPropagationMs?: number;
}

export class SelfManagedCertificates implements CertificateSource {
  private readonly core: CoreApi;
  private readonly admission: WebhookConfigurationApi;
  private readonly clock: Clock;
  private material: ServingMaterial | undefined;
  private readonly listeners: Array<(m: ServingMaterial) => void> = [];
  private timer: TimerHandle | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private warnedMissingConfiguration = false;
  private readonly stopSignal = new AbortController();
  /** Renewals done by this process, for tests and logs. */
  readonly renewals: Array<{ at: number; what: Array<'ca' | 'serving'> }> = [];

  constructor(private readonly opts: SelfManagedOptions) {
    const kube = kubeClient(opts.kubeConfig);
    this.core = kube.core;
    this.admission = kube.webhookConfigurations;
    this.clock = opts.clock ?? realClock;
  }

  /** Resolves once a certificate is served; until then each failed pass is retried (10 s later). */
  async start(): Promise<void> {
    while (!this.stopped && !this.material) {
      this.timer?.cancel();
      await this.sync().catch(() => this.clock.sleep(10_000, this.stopSignal.signal));
    }
  }

  current(): ServingMaterial | undefined {
    return this.material;
  }

  onChange(listener: (m: ServingMaterial) => void): void {
    this.listeners.push(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    this.timer?.cancel();
    await this.running?.catch(() => undefined);
  }

  /** One pass: read, renew what is due, publish the bundle, store, serve; then schedule the next. */
  private sync(): Promise<void> {
    this.running = this.syncOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async syncOnce(): Promise<void> {
    let nextCheckAt = this.clock.now() + (this.opts.recheckMs ?? 60_000);
    try {
      for (let attempt = 0; ; attempt++) {
        const secret = await readSecret(this.core, this.opts.namespace, this.opts.secretName, { attempts: 3 });
        const plan = planCertificates(readStored(secret), {
          now: new Date(this.clock.now()),
          hosts: this.opts.hosts,
          caValidityMs: this.opts.caValidityMs,
          certValidityMs: this.opts.certValidityMs,
          commonName: `regcred-webhook-ca.${this.opts.namespace}`,
        });
        nextCheckAt = Math.min(nextCheckAt, plan.nextCheckAt);
        const bundle = plan.result.caBundle.join('');
        const published = await this.publishBundle(bundle);
        // The API server learns of a new bundle through its own watch: give it a moment before
        // anyone serves a certificate only the new CA vouches for.
        if (published && plan.renewed.includes('ca') && readStored(secret).ca) await this.clock.sleep(this.opts.caPropagationMs ?? 10_000, this.stopSignal.signal);
        if (plan.renewed.length > 0) {
          const written = await this.writeSecret(secret, plan.result);
          if (!written) {
            if (attempt < 3) continue; // another replica wrote first: start over from theirs
            throw new Error('the webhook certificate Secret keeps changing under us');
          }
          this.renewals.push({ at: this.clock.now(), what: plan.renewed });
          const info = certInfo(plan.result.serving!.certPem)!;
          this.opts.log.info({ renewed: plan.renewed, notAfter: info.notAfter.toISOString(), hosts: info.hosts }, 'webhook serving certificate issued');
        }
        this.serve(plan.result.serving!);
        break;
      }
    } catch (err) {
      nextCheckAt = Math.min(nextCheckAt, this.clock.now() + 10_000);
      this.opts.log.warn({ err: errorMessage(err) }, 'cannot manage the webhook certificate; retrying');
      if (!this.material) throw err;
    } finally {
      if (!this.stopped) {
        this.timer = this.clock.setTimer(() => void this.sync().catch(() => undefined), Math.max(1000, nextCheckAt - this.clock.now()));
      }
    }
  }

  private serve(pair: KeyPair): void {
    if (this.material?.certPem === pair.certPem && this.material.keyPem === pair.keyPem) return;
    const first = !this.material;
    this.material = { certPem: pair.certPem, keyPem: pair.keyPem };
    if (!first) for (const l of this.listeners) l(this.material);
  }

  /** Creates or replaces the Secret; false when someone else changed it first (409). */
  private async writeSecret(previous: V1Secret | null, certs: StoredCertificates): Promise<boolean> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: this.opts.secretName,
        namespace: this.opts.namespace,
        labels: { 'app.kubernetes.io/name': 'regcred', 'app.kubernetes.io/component': 'webhook-certificate' },
        ...(previous?.metadata?.resourceVersion ? { resourceVersion: previous.metadata.resourceVersion } : {}),
      },
      data: secretData(certs),
    };
    try {
      if (previous) await this.core.replaceNamespacedSecret({ namespace: this.opts.namespace, name: this.opts.secretName, body });
      else await this.core.createNamespacedSecret({ namespace: this.opts.namespace, body });
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Puts the bundle into every webhook of the configuration that lacks it; true if it patched. */
  private async publishBundle(bundle: string): Promise<boolean> {
    const b64 = Buffer.from(bundle).toString('base64');
    let config;
    try {
      config = await withApiRetry(() => this.admission.readMutatingWebhookConfiguration({ name: this.opts.configurationName }), { attempts: 3 });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      if (!this.warnedMissingConfiguration) {
        this.warnedMissingConfiguration = true;
        this.opts.log.warn({ configuration: this.opts.configurationName }, 'MutatingWebhookConfiguration not found: the API server will not call the webhook until it exists');
      }
      return false;
    }
    this.warnedMissingConfiguration = false;
    const ops: object[] = [{ op: 'test', path: '/metadata/resourceVersion', value: config.metadata?.resourceVersion }];
    (config.webhooks ?? []).forEach((w, i) => {
      if (w.clientConfig.caBundle !== b64) ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: b64 });
    });
    if (ops.length === 1) return false;
    await this.admission.patchMutatingWebhookConfiguration({ name: this.opts.configurationName, body: ops });
    this.opts.log.info({ configuration: this.opts.configurationName, webhooks: ops.length - 1 }, 'webhook CA bundle published');
    return true;
  }
}

/** tls.crt and tls.key from a directory (a mounted Secret, e.g. cert-manager's), re-read every `pollMs`. */
export class FileCertificates implements CertificateSource {
  private material: ServingMaterial | undefined;
  private readonly listeners: Array<(m: ServingMaterial) => void> = [];
  private timer: TimerHandle | undefined;
  private readonly clock: Clock;

  constructor(private readonly opts: { dir: string; log: Logger; clock?: Clock; pollMs?: number }) {
    this.clock = opts.clock ?? realClock;
  }

  async start(): Promise<void> {
    await this.read();
    this.schedule();
  }

  current(): ServingMaterial | undefined {
    return this.material;
  }

  onChange(listener: (m: ServingMaterial) => void): void {
    this.listeners.push(listener);
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(() => {
      this.read()
        .catch((err: unknown) => this.opts.log.warn({ err: errorMessage(err), dir: this.opts.dir }, 'cannot re-read the webhook certificate; serving the previous one'))
        .finally(() => this.timer && this.schedule());
    }, this.opts.pollMs ?? 10_000);
  }

  private async read(): Promise<void> {
    // Kubernetes swaps a mounted Secret's files atomically (a symlink), so the two reads match.
    const [certPem, keyPem] = await Promise.all([readFile(join(this.opts.dir, TLS_CERT_KEY), 'utf8'), readFile(join(this.opts.dir, TLS_KEY_KEY), 'utf8')]);
    if (!certInfo(certPem)) throw new Error(`${join(this.opts.dir, TLS_CERT_KEY)} is not a PEM certificate`);
    if (this.material?.certPem === certPem && this.material.keyPem === keyPem) return;
    const first = !this.material;
    this.material = { certPem, keyPem };
    if (!first) {
      this.opts.log.info({ dir: this.opts.dir, notAfter: certInfo(certPem)?.notAfter.toISOString() }, 'webhook serving certificate reloaded');
      for (const l of this.listeners) l(this.material);
    }
  }
}
