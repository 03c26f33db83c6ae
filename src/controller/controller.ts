// The controller's public names, for the command and the tests: the class lives in manager.ts, its
// parts in credentials/ (one per concern), the webhook's backend in admission-backend.ts.

export { Controller, type ControllerOptions } from './manager.js';
export { FINALIZER, VERSION_V1ALPHA1 } from './credentials/object.js';
export { credentialKey } from './secret-index.js';
