import { createHash } from 'node:crypto';
import { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

// client-node 1.x builds a new https.Agent for every API request: no keep-alive, a full TLS
// handshake and a fresh TLS context each time, and native memory that lingers until V8 happens to
// collect the agents. At thousands of writes that is most of the CPU time and hundreds of MB of RSS.
// This keeps client-node's per-request authentication (it re-reads rotating tokens, runs exec
// plugins) and only swaps the agent for a shared keep-alive one with the same TLS settings.
// (client-node has no option for this; the fix is the few lines below rather than a fork.)

const POOLED = Symbol.for('regcred.pooledAgents');

interface AgentHolder {
  getAgent(): unknown;
  setAgent(agent: unknown): void;
}

const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

function fingerprint(options: Record<string, unknown>): string {
  const h = createHash('sha256');
  for (const k of TLS_KEYS) {
    const v = options[k];
    h.update(`${k}=`);
    if (Buffer.isBuffer(v)) h.update(v);
    else if (v !== undefined) h.update(JSON.stringify(v));
    h.update('\0');
  }
  return h.digest('hex');
}

export function poolConnections(kc: KubeConfig, maxSockets = 32): KubeConfig {
  const target = kc as KubeConfig & { [POOLED]?: boolean };
  if (target[POOLED]) return kc;
  target[POOLED] = true;
  const agents = new Map<string, Agent>();
  const original = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (context) => {
    await original(context);
    const holder = context as unknown as AgentHolder;
    const created = holder.getAgent();
    // Only plain HTTPS agents are pooled; proxies keep client-node's own agent.
    if (!(created instanceof Agent) || created.constructor !== Agent) return;
    const options = (created as Agent & { options: Record<string, unknown> }).options;
    const key = fingerprint(options);
    let agent = agents.get(key);
    if (!agent) {
      const tls: Record<string, unknown> = {};
      for (const k of TLS_KEYS) if (options[k] !== undefined) tls[k] = options[k];
      agent = new Agent({ ...tls, keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
      agents.set(key, agent);
    }
    holder.setAgent(agent);
  };
  return kc;
}
