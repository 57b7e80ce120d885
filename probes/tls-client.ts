// TLS settings shared by the check kinds that speak TLS (http, tcp, tls, fhir):
// a private CA, a client certificate for mutual TLS, the name to verify, and the
// certificate facts an operator needs (days to expiry, why a chain is not trusted).
// Keys and certificates are secret references, resolved on the worker host.
// Must never put key or certificate contents in a detail.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { isHostName } from './host-name';
import { describeSecretRef, resolveSecrets, secretRef, type SecretRef } from './secrets';

const serverName = z
  .string()
  .refine((name) => isHostName(name) && !isIP(name), 'expected a host name such as gpconnect.example.nhs.uk (SNI cannot carry an IP address)');

export const tlsClientOptions = z
  .object({
    /** PEM bundle of the CAs to trust instead of the system's. */
    ca: secretRef.optional(),
    /** PEM client certificate (chain) for mutual TLS; goes with `key`. */
    cert: secretRef.optional(),
    /** PEM private key of the client certificate. */
    key: secretRef.optional(),
    /** Accept any certificate. For a lab only: the check then proves nothing about who answered. */
    insecureSkipVerify: z.boolean().default(false),
    /** The name sent as SNI and verified against the certificate, when it differs from the target's host. */
    serverName: serverName.optional(),
  })
  .strict()
  .refine((o) => (o.cert === undefined) === (o.key === undefined), {
    message: 'cert and key go together: give both for mutual TLS, or neither',
    path: ['cert'],
  });

export type TlsClientOptions = z.output<typeof tlsClientOptions>;

export interface TlsClientSettings {
  /** Options for tls.connect / https.request. */
  connect: Pick<ConnectionOptions, 'secureContext' | 'rejectUnauthorized' | 'servername'>;
  /** The name the certificate is verified against. */
  verifyName: string;
  /** Resolved secret values, for redaction. */
  secrets: string[];
}

export type ResolvedTlsClient = { ok: true; settings: TlsClientSettings } | { ok: false; detail: string };

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unreadable';
}

/** Which of the loaded PEMs is at fault, without quoting any of them. */
function diagnose(ca: string | undefined, cert: string | undefined, key: string | undefined, refs: Record<string, SecretRef | undefined>, err: unknown): string {
  const named = (field: string): string => `tls.${field} (${describeSecretRef(refs[field]!)})`;
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
    } catch (caErr) {
      return `${named('ca')} is not a usable PEM certificate bundle (${errorCode(caErr)})`;
    }
  }
  if (key !== undefined) {
    try {
      createPrivateKey(key);
    } catch (keyErr) {
      return `${named('key')} is not a usable PEM private key (${errorCode(keyErr)})`;
    }
  }
  if (cert !== undefined) {
    try {
      new X509Certificate(cert);
    } catch (certErr) {
      return `${named('cert')} is not a usable PEM certificate (${errorCode(certErr)})`;
    }
  }
  return `tls.cert and tls.key could not be used together; is the key the certificate's? (${errorCode(err)})`;
}

/**
 * Reads the CA, certificate and key on this host and builds the secure context.
 * `host` is the target's host: the default name to verify and to send as SNI
 * (never an IP address as SNI, which RFC 6066 forbids).
 */
export async function resolveTlsClient(options: TlsClientOptions | undefined, host: string): Promise<ResolvedTlsClient> {
  const opts = options ?? { insecureSkipVerify: false };
  const refs = { ca: opts.ca, cert: opts.cert, key: opts.key };
  const resolved = await resolveSecrets(refs);
  if (!resolved.ok) return { ok: false, detail: `tls.${resolved.detail}` };
  const { ca, cert, key } = resolved.values;
  let secureContext;
  try {
    secureContext = createSecureContext({ ca, cert, key });
  } catch (err) {
    return { ok: false, detail: diagnose(ca, cert, key, refs, err) };
  }
  const verifyName = opts.serverName ?? host;
  const servername = isIP(verifyName) ? undefined : verifyName;
  return {
    ok: true,
    settings: {
      connect: { secureContext, rejectUnauthorized: !opts.insecureSkipVerify, ...(servername ? { servername } : {}) },
      verifyName,
      secrets: [ca, cert, key].filter((v): v is string => v !== undefined),
    },
  };
}

const DAY_MS = 86_400_000;

export interface CertificateExpiry {
  notAfter: Date;
  /** Whole days until notAfter; zero or negative once expired (see `expired`). */
  daysLeft: number;
  expired: boolean;
}

export function certificateExpiry(cert: Pick<PeerCertificate, 'valid_to'>, now: number): CertificateExpiry | null {
  const notAfter = new Date(cert.valid_to);
  if (Number.isNaN(notAfter.getTime())) return null;
  const msLeft = notAfter.getTime() - now;
  // Whole days either way: 3 days 6 hours ago is "3 days ago", as a person would say it.
  return { notAfter, daysLeft: msLeft >= 0 ? Math.floor(msLeft / DAY_MS) : -Math.floor(-msLeft / DAY_MS), expired: msLeft < 0 };
}

const day = (n: number): string => `${n} day${n === 1 ? '' : 's'}`;
const isoDate = (d: Date): string => d.toISOString().slice(0, 10);

/** `certificate expired 3 days ago (notAfter 2026-11-24)` / `certificate expires in 12 days (notAfter …)`. */
export function describeExpiry(expiry: CertificateExpiry): string {
  const when = `(notAfter ${isoDate(expiry.notAfter)})`;
  if (expiry.expired) {
    return expiry.daysLeft === 0 ? `certificate expired less than a day ago ${when}` : `certificate expired ${day(-expiry.daysLeft)} ago ${when}`;
  }
  if (expiry.daysLeft === 0) return `certificate expires within a day ${when}`;
  return `certificate expires in ${day(expiry.daysLeft)} ${when}`;
}

/** A verification failure as Node reports it on `authorizationError`, in words. */
export function describeAuthorizationError(code: string, cert: PeerCertificate | null, verifyName: string, now: number): string {
  const expiry = cert ? certificateExpiry(cert, now) : null;
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return expiry ? describeExpiry(expiry) : 'certificate expired';
    case 'CERT_NOT_YET_VALID':
      return `certificate not valid until ${cert?.valid_from ?? 'a later date'}`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'self-signed certificate';
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'self-signed certificate in the chain (a CA that is not trusted)';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `certificate chain does not lead to a trusted CA (issuer ${describeName(cert?.issuer)}; ${code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `certificate is not valid for ${verifyName} (${cert?.subjectaltname ?? `subject ${describeName(cert?.subject)}`})`;
    case 'CERT_REVOKED':
      return 'certificate revoked';
    default:
      return `certificate not trusted (${code})`;
  }
}

export function describeName(name: PeerCertificate['subject'] | undefined): string {
  if (!name) return 'unknown';
  const cn = name.CN;
  const o = name.O;
  const text = [cn && `CN=${String(cn)}`, o && `O=${String(o)}`].filter(Boolean).join(', ');
  return text || 'unnamed';
}
