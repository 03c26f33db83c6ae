import { z } from 'zod';
import { labelSelector } from '../config/common.js';
import { MAX_EXTRA_KEYS, clusterOnlyMessage, credentialSpec, type CredentialKind } from '../config/schema.js';
import { credentialStatus } from '../config/status-schema.js';
import { knownProviderKeys, providerRegistry } from '../providers/registry.js';
import {
  QUALIFIED_KEY_RULE,
  RESERVED_KEYS_RULE,
  SELECTOR_REQUIREMENT_RULE,
  SELECTOR_RULE,
  addRule,
  exactlyOneOfFew,
  exactlyOneOfMany,
  type CelRule,
} from './cel.js';
import { isSchema, structural, type Schema } from './structural.js';

// The openAPIV3Schema of spec and status, from the zod schemas (config/schema.ts, each provider's
// configSchema, config/status-schema.ts): `z.toJSONSchema` does the bulk of the work, structural.ts
// makes it structural, and CEL rules (cel.ts) cover what zod says in refinements. Descriptions that
// zod does not carry are set here.

/** The node at a dotted path of property names (`[]` steps into array items); throws if absent. */
function nodeAt(root: Schema, path: string): Schema {
  let node = root;
  for (const step of path.split('.')) {
    const [name, items] = step.endsWith('[]') ? [step.slice(0, -2), true] : [step, false];
    const next = (node['properties'] as Schema | undefined)?.[name];
    if (!isSchema(next)) throw new Error(`CRD schema has no ${path} (at ${name}); was schema.ts changed?`);
    node = next;
    if (items) {
      if (!isSchema(node['items'])) throw new Error(`CRD schema: ${path} is not an array`);
      node = node['items'];
    }
  }
  return node;
}

function toJson(schema: z.ZodType, path: string): Schema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'any',
    override: (ctx) => {
      // Wherever a LabelSelector appears: the rules of common.ts's refinement.
      if (ctx.zodSchema === (labelSelector as unknown)) {
        addRule(ctx.jsonSchema as Schema, SELECTOR_RULE);
        const req = (ctx.jsonSchema.properties?.['matchExpressions'] as Schema | undefined)?.['items'];
        if (isSchema(req)) addRule(req, SELECTOR_REQUIREMENT_RULE);
      }
    },
  }) as Schema;
  return structural(json, path);
}

/**
 * `spec.provider`: one optional property per provider in the registry, exactly one of them set. In a
 * RegistryCredential, cluster-only providers keep their schema (so the message is clear, not a
 * pruned field) and a rule refuses them.
 */
function providerSchema(kind: CredentialKind): Schema {
  const keys = knownProviderKeys();
  const properties: Schema = {};
  for (const key of keys) {
    properties[key] = toJson(providerRegistry.get(key)!.configSchema, `spec.provider.${key}`);
  }
  const known = keys.join(', ');
  const rules: CelRule[] = [
    exactlyOneOfMany(
      keys,
      // A key that is no provider is pruned before this rule runs (or rejected as an unknown field
      // with fieldValidation=Strict), so say so.
      `exactly one provider key is required (one of: ${known}); keys that are not providers are dropped`,
      'exactly one provider key is allowed, found:',
    ),
  ];
  if (kind === 'RegistryCredential') {
    for (const key of keys) {
      const reason = providerRegistry.get(key)!.clusterOnly;
      if (reason) rules.push({ rule: `!has(self.${key})`, message: clusterOnlyMessage(key, reason) });
    }
  }
  return {
    type: 'object',
    description: `The credential source: exactly one key, one of: ${known}.`,
    properties,
    'x-kubernetes-validations': rules,
  };
}

export function specSchema(kind: CredentialKind): Schema {
  const spec = toJson(credentialSpec, 'spec');
  spec['description'] = 'The desired state: where the credential comes from and where it is written.';
  (spec['properties'] as Schema)['provider'] = providerSchema(kind);

  const target = nodeAt(spec, 'target');
  target['description'] = 'The Secret to write, and where.';
  addRule(nodeAt(spec, 'target.labels'), RESERVED_KEYS_RULE);
  addRule(nodeAt(spec, 'target.annotations'), RESERVED_KEYS_RULE);
  addRule(nodeAt(spec, 'target.labels'), QUALIFIED_KEY_RULE);
  addRule(nodeAt(spec, 'target.annotations'), QUALIFIED_KEY_RULE);
  // Bounds that keep the rules' estimated CEL cost within the API server's budget (and schema.ts says the same).
  nodeAt(spec, 'target.labels')['maxProperties'] = MAX_EXTRA_KEYS;
  nodeAt(spec, 'target.annotations')['maxProperties'] = MAX_EXTRA_KEYS;
  nodeAt(spec, 'target.labels')['description'] = 'Extra labels on the written Secret.';
  nodeAt(spec, 'target.annotations')['description'] = 'Extra annotations on the written Secret.';
  nodeAt(spec, 'target.serviceAccounts')['description'] =
    'Service accounts whose imagePullSecrets get the Secret; ["*"] = every one, [] = none.';
  nodeAt(spec, 'target.adopt')['description'] = 'Take over an existing pull Secret (kubernetes.io/dockerconfigjson or dockercfg) of that name that no other credential owns; other types are never replaced.';
  nodeAt(spec, 'target.secretName')['description'] = 'The name of the written Secret (a DNS-1123 subdomain).';
  nodeAt(spec, 'refresh.renewBefore')['description'] = "How long before expiry to renew; default: a third of the credential's lifetime.";
  nodeAt(spec, 'refresh.interval')['description'] = 'For credentials that never expire: how often to re-read the source.';
  nodeAt(spec, 'cleanupPolicy')['description'] = 'What happens to written Secrets and service-account references when this object is deleted.';

  const namespaces = nodeAt(spec, 'target.namespaces');
  namespaces['description'] = 'The namespaces to write into: exactly one of names, selector, all; plus an optional exclude list.';
  addRule(
    namespaces,
    exactlyOneOfFew(['names', 'selector', 'all'], 'needs exactly one of names, selector, all', 'takes exactly one of names, selector, all; found ', ' and '),
  );
  // The selector's own rules came with it (see toJson).
  const selectorRules = (nodeAt(spec, 'target.namespaces.selector')['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  const requirementRules = (nodeAt(spec, 'target.namespaces.selector.matchExpressions[]')['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  if (selectorRules.length === 0 || requirementRules.length === 0) throw new Error('CRD schema: the label selector rules were not applied');

  if (kind === 'ClusterRegistryCredential') {
    target['required'] = [...new Set([...((target['required'] as string[] | undefined) ?? []), 'namespaces'])];
  } else {
    // A RegistryCredential writes into its own namespace only.
    delete (target['properties'] as Schema)['namespaces'];
  }
  return spec;
}

export function statusSchema(): Schema {
  const status = toJson(credentialStatus, 'status');
  status['description'] = 'The observed state, written by the controller.';
  return status;
}
