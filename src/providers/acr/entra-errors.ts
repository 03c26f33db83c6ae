import { RegcredError } from '../../errors.js';
import { clip } from '../internal/http-errors.js';

// What @azure/identity (and MSAL under it) throws, as a RegcredError: codes only in the message,
// the library's and Entra's text for logs.

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function oneLine(text: string, max = 300): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** AADSTS codes meaning the credentials or configuration are wrong (retrying cannot help). */
const PERMANENT_AADSTS = /AADSTS(7000215|7000222|700016|90002|900023|70021|700213|700211|700212|700024|50027|50034|53003|500011|50020|7000112|50126|90014|900144)\b/;
const PERMANENT_OAUTH = /\b(invalid_client|invalid_grant|unauthorized_client|invalid_scope|invalid_request|invalid_resource|unsupported_grant_type)\b/;

/**
 * An @azure/identity (or MSAL) failure as a RegcredError naming acr, the registry and the call.
 * Bad credentials or configuration (AADSTS7000215 invalid client secret, invalid_client,
 * invalid_grant, 400/401/403) are permanent; the network, 429 and 5xx retryable. Messages are the
 * library's first line, which holds no secret (it is also scrubbed, like every line regcred prints).
 */
export function classifyEntraError(err: unknown, where: string): RegcredError {
  const e = (err ?? {}) as {
    name?: string;
    message?: string;
    statusCode?: number;
    code?: string;
    errorCode?: string;
    errorResponse?: { error?: string; errorDescription?: string };
    cause?: unknown;
  };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (name === 'AbortError') return new RegcredError('ProviderError', `${where}: aborted`, true, { cause: err });
  // The most useful text: an OAuth error's description (AADSTS... line), else the message's first line.
  const description = e.errorResponse?.errorDescription;
  const raw = typeof e.message === 'string' ? e.message : '';
  const oauth = typeof description === 'string' && !!e.errorResponse?.error && e.errorResponse.error !== 'unknown';
  let detail = oauth ? `${e.errorResponse!.error}: ${description}` : raw;
  // MSAL's server errors read "<code>: Error(s): <n> - Timestamp: .. - Description: <text> - Correlation ID: ..":
  // keep the code and the description (Entra's "AADSTS7000215: Invalid client secret provided. ..").
  const msal = /(\w+): Error\(s\): .*? - Description: (.*?)(?: Trace ID:| - Correlation ID:| - Trace ID:|$)/s.exec(detail);
  if (msal) detail = `${detail.slice(0, msal.index)}${msal[1]}: ${msal[2]}`;
  detail = oneLine(detail.split(/\n\s*\n|Trace ID:|Correlation ID:|\n/)[0] ?? '', 400).replace(/[ .,-]+$/, '') || name;
  const all = `${raw} ${description ?? ''} ${e.errorCode ?? ''}`;
  const status = typeof e.statusCode === 'number' ? e.statusCode : statusIn(raw);
  const causeCode = (e.cause as { code?: string } | undefined)?.code;
  const networkCode = [e.code, causeCode].find((c): c is string => typeof c === 'string' && NETWORK_CODES.has(c));
  let retryable: boolean;
  if (PERMANENT_AADSTS.test(all) || PERMANENT_OAUTH.test(all)) retryable = false;
  else if (status === 429 || (status !== undefined && status >= 500)) retryable = true;
  else if (status !== undefined && status >= 400) retryable = false;
  else if (
    networkCode !== undefined ||
    e.errorCode === 'network_error' ||
    /network|ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|socket hang up|timed? ?out|unreachable|endpoints_resolution_error/i.test(all)
  ) {
    retryable = true;
  } else if (name === 'CredentialUnavailableError') {
    // Managed identity unavailable here (no IMDS, not on Azure) or a missing parameter: configuration.
    retryable = false;
  } else retryable = false;
  // The message holds only codes (the OAuth error, the AADSTS number, the HTTP status, a network
  // error code) and the library's error class: Entra's and the library's text is remote and goes
  // to remoteDetail (logs). The OAuth code says it all; the wrapper class name
  // (AuthenticationRequiredError around Entra's invalid_client, say) would mislead.
  const oauthCode = [e.errorResponse?.error, msal?.[1], /^([a-z_]{1,64}):/.exec(raw)?.[1]].find(
    (c): c is string => typeof c === 'string' && /^[a-z_]{1,64}$/.test(c) && c !== 'unknown' && c !== 'unknown_error',
  );
  const aadsts = /AADSTS[0-9]{1,9}\b/.exec(all)?.[0];
  const parts = [
    oauthCode ?? (/^[A-Za-z]{1,64}$/.test(name) ? name : 'Error'),
    aadsts,
    status !== undefined ? `HTTP ${status}` : undefined,
    networkCode,
  ].filter((p): p is string => p !== undefined);
  let label = parts.join(' ');
  if (/endpoints_resolution_error/.test(all)) {
    label += ' endpoints_resolution_error (could not read the authority\'s OpenID configuration: network, TLS trust or authorityHost)';
  }
  return new RegcredError('ProviderError', `${where}: ${label}`, retryable, { cause: err, remoteDetail: clip(detail) });
}

function statusIn(message: string): number | undefined {
  const m = /Status code: (\d{3})|status(?:Code)?[ :=]+(\d{3})\b|HTTP (\d{3})/i.exec(message);
  const s = m?.[1] ?? m?.[2] ?? m?.[3];
  return s ? Number(s) : undefined;
}
