// Errors carry a stable code, and say whether retrying can help. Messages are constant text plus
// object names and field paths: never a credential value (see redact.ts for the safety net).

export type ErrorCode =
  | 'InvalidSpec' // the file or object does not match the schema
  | 'SourceNotFound' // a referenced source Secret does not exist
  | 'InvalidSource' // a source Secret exists but lacks the keys the provider needs
  | 'CrossNamespaceRef' // a source Secret outside the allowed namespace
  | 'ProviderError' // a provider call failed
  | 'HostNotAllowed' // the network policy does not allow the URL's host (refused before connecting)
  | 'AddressNotAllowed' // the network policy refuses the address a host resolved to (refused at connect time)
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
    options?: { cause?: unknown; remoteDetail?: string | undefined },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    if (options?.remoteDetail) this.remoteDetail = options.remoteDetail;
  }

  /**
   * What the remote side said (an error body, an OAuth error_description), clipped to 200
   * characters: for logs only. Never part of `message`, which ends up in tenant-readable status
   * conditions and Events.
   */
  readonly remoteDetail?: string;
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
