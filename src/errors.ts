// Errors carry a stable code, and say whether retrying can help. Messages are constant text plus
// object names and field paths: never a credential value (see redact.ts for the safety net).

export type ErrorCode =
  | 'InvalidSpec' // the file or object does not match the schema
  | 'SourceNotFound' // a referenced source Secret does not exist
  | 'InvalidSource' // a source Secret exists but lacks the keys the provider needs
  | 'CrossNamespaceRef' // a source Secret outside the allowed namespace
  | 'ProviderError' // a provider call failed
  | 'Forbidden' // the API server refused (403)
  | 'NamespaceNotFound'
  | 'SecretConflict' // a Secret of that name exists and regcred does not manage it
  | 'ServiceAccountNotFound'
  | 'ApiError' // any other API server failure
  // The installation's tenant policy refused what a RegistryCredential asks (config/tenant-policy.ts):
  | 'AmbientCredentialsRefused'
  | 'HostNotAllowed'
  | 'InsecureTransportRefused'
  | 'HeaderNotAllowed'
  | 'RefreshTooFrequent'
  | 'TokenNotAllowed';

export class RegcredError extends Error {
  override readonly name = 'RegcredError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Retrying later can succeed (network, 5xx, throttling); otherwise a user must change something. */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Errors that mean the input (file, object or source Secret) is wrong: exit status 2 in `sync`. */
export const INPUT_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'InvalidSpec',
  'SourceNotFound',
  'InvalidSource',
  'CrossNamespaceRef',
]);

export function isInputError(err: unknown): err is RegcredError {
  return err instanceof RegcredError && INPUT_ERROR_CODES.has(err.code);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
