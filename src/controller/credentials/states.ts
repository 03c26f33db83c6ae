import type { Metrics } from '../../metrics.js';
import type { MintedCredential } from '../reconcile.js';
import type { CredentialState } from '../refresh.js';
import { credentialKeyParts } from '../secret-index.js';

// What the controller remembers of each credential between runs (refresh.ts CredentialState: the
// credential minted, when, the next refresh, failure counts), and forgetting a credential: its
// state, its queue entries, the content read for it, the watch of its sources and its metric series.

export interface StatesDeps {
  queue: { forget(key: string): void };
  heldContent: { forget(key: string): void };
  /** The watch of the Secrets the credential read. */
  sources?: { forget(key: string): void } | undefined;
  metrics?: Metrics | undefined;
}

export class CredentialStates {
  private readonly states = new Map<string, CredentialState>();

  constructor(private readonly d: StatesDeps) {}

  get(key: string): CredentialState | undefined {
    return this.states.get(key);
  }

  minted(key: string): MintedCredential | undefined {
    return this.states.get(key)?.minted;
  }

  /** The state of `key`: a fresh one for an object seen first or re-created (another uid). */
  forObject(key: string, uid: string | undefined, provider: string): CredentialState {
    let state = this.states.get(key);
    if (!state || state.uid !== uid) {
      state = { uid, refreshFailures: 0, targetFailures: 0, provider };
      this.states.set(key, state);
    }
    return state;
  }

  forget(key: string): void {
    const state = this.states.get(key);
    this.states.delete(key);
    this.d.queue.forget(key);
    this.d.heldContent.forget(key);
    this.d.sources?.forget(key);
    if (state && this.d.metrics) {
      this.d.metrics.forgetCredential({ ...credentialKeyParts(key), provider: state.provider });
    }
  }
}
