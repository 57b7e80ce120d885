// Certificates made at test time with the openssl CLI in a temporary directory:
// a private CA, server certificates it signed (valid, expiring soon, expired),
// a self-signed one, and a client certificate for mutual TLS. EC P-256 keys, so
// making them takes milliseconds. Every server certificate is for 127.0.0.1 and
// localhost.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  keyPath: string;
  certPath: string;
  key: Buffer;
  cert: Buffer;
}

export interface TlsFixtures {
  dir: string;
  caPath: string;
  ca: Buffer;
  /** Signed by the CA, valid for 90 days. */
  server: KeyPair;
  /** Signed by the CA, expires in 5 days and some hours. */
  expiringSoon: KeyPair;
  /** Signed by the CA, expired 3 days and some hours ago. */
  expired: KeyPair;
  /** Its own issuer. */
  selfSigned: KeyPair;
  /** Signed by the CA for clientAuth. */
  client: KeyPair;
  remove(): void;
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ca]
default_ca = test_ca
[test_ca]
database = DIR/index.txt
new_certs_dir = DIR
serial = DIR/serial
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
`;

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** `YYYYMMDDHHMMSSZ`, as openssl ca -startdate/-enddate want it. */
function asn1Time(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

export function makeTlsFixtures(): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-certs-'));
  const conf = join(dir, 'openssl.cnf');
  writeFileSync(conf, CONFIG.replaceAll('DIR', dir));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OPENSSL_CONF: conf } });
  };
  const path = (name: string): string => join(dir, name);
  const pair = (name: string): KeyPair => ({
    keyPath: path(`${name}.key`),
    certPath: path(`${name}.pem`),
    key: readFileSync(path(`${name}.key`)),
    cert: readFileSync(path(`${name}.pem`)),
  });
  const request = (name: string, cn: string): void => {
    openssl('req', '-new', ...EC, '-config', conf, '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=${cn}`);
  };
  const sign = (name: string, ext: string, days: number): void => {
    openssl('x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAserial', path('serial'),
      '-out', path(`${name}.pem`), '-days', String(days), '-extfile', conf, '-extensions', ext);
  };

  openssl('req', '-x509', ...EC, '-config', conf, '-extensions', 'ca_ext', '-keyout', path('ca.key'), '-out', path('ca.pem'),
    '-days', '365', '-subj', '/CN=Pulse Test CA/O=Pulse tests');

  request('server', 'localhost');
  sign('server', 'server_ext', 90);

  request('soon', 'localhost');
  // -days counts whole days from now; 6 days minus the hours `openssl ca` lets us trim.
  const hour = 3_600_000;
  const day = 24 * hour;
  openssl('ca', '-batch', '-config', conf, '-cert', path('ca.pem'), '-keyfile', path('ca.key'), '-in', path('soon.csr'), '-out', path('soon.pem'),
    '-notext', '-startdate', asn1Time(Date.now() - day), '-enddate', asn1Time(Date.now() + 5 * day + 6 * hour), '-extfile', conf, '-extensions', 'server_ext');

  request('expired', 'localhost');
  openssl('ca', '-batch', '-config', conf, '-cert', path('ca.pem'), '-keyfile', path('ca.key'), '-in', path('expired.csr'), '-out', path('expired.pem'),
    '-notext', '-startdate', asn1Time(Date.now() - 30 * day), '-enddate', asn1Time(Date.now() - 3 * day - 6 * hour), '-extfile', conf, '-extensions', 'server_ext');

  openssl('req', '-x509', ...EC, '-config', conf, '-extensions', 'server_ext', '-keyout', path('self.key'), '-out', path('self.pem'),
    '-days', '30', '-subj', '/CN=localhost');

  request('client', 'pulse-worker-leeds');
  sign('client', 'client_ext', 30);

  return {
    dir,
    caPath: path('ca.pem'),
    ca: readFileSync(path('ca.pem')),
    server: pair('server'),
    expiringSoon: pair('soon'),
    expired: pair('expired'),
    selfSigned: pair('self'),
    client: pair('client'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
