// A tiny authoritative DNS server on UDP 127.0.0.1, port 0, for the dns check's
// tests: answers A, AAAA and CNAME from a fixed zone, NXDOMAIN for unknown names,
// NODATA for a known name without that type, a chosen rcode (SERVFAIL, REFUSED)
// per name, or nothing at all (`silent`) to make the client time out.
import { createSocket, type RemoteInfo } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  CNAME?: string[];
  /** Answer every query for this name with this rcode (2 SERVFAIL, 5 REFUSED). */
  rcode?: number;
  /** Never answer queries for this name. */
  silent?: boolean;
}

export interface DnsTestServer {
  /** `127.0.0.1:port`, for the check's `resolver` option. */
  address: string;
  /** Queries received, as `TYPE name`. */
  queries: string[];
  close(): Promise<void>;
}

const TYPES: Record<number, keyof Pick<ZoneEntry, 'A' | 'AAAA' | 'CNAME'>> = { 1: 'A', 28: 'AAAA', 5: 'CNAME' };

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function ipv6Bytes(text: string): Buffer {
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function rdata(type: 'A' | 'AAAA' | 'CNAME', value: string): Buffer {
  if (type === 'A') return Buffer.from(value.split('.').map(Number));
  if (type === 'AAAA') return ipv6Bytes(value);
  return encodeName(value);
}

/** The question's name, type and where the question section ends. */
function parseQuestion(msg: Buffer): { name: string; type: number; end: number } {
  let offset = 12;
  const labels: string[] = [];
  while (msg[offset]! !== 0) {
    const len = msg[offset]!;
    labels.push(msg.toString('ascii', offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
  offset += 1;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(offset), end: offset + 4 };
}

function answer(query: Buffer, zone: Readonly<Record<string, ZoneEntry>>): Buffer | null {
  const { name, type, end } = parseQuestion(query);
  const entry = zone[name];
  if (entry?.silent) return null;
  const typeName = TYPES[type];
  const records = (entry && typeName && entry[typeName]) || [];
  const rcode = entry === undefined ? 3 : (entry.rcode ?? 0);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, RD copied from the query, RA, and the rcode.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rcode === 0 ? records.length : 0, 6);
  const answers = rcode === 0
    ? records.map((value) => {
        const data = rdata(typeName!, value);
        const rr = Buffer.alloc(12);
        rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
        rr.writeUInt16BE(type, 2);
        rr.writeUInt16BE(1, 4); // IN
        rr.writeUInt32BE(60, 6);
        rr.writeUInt16BE(data.length, 10);
        return Buffer.concat([rr, data]);
      })
    : [];
  return Buffer.concat([header, query.subarray(12, end), ...answers]);
}

export async function startDnsServer(zone: Readonly<Record<string, ZoneEntry>>): Promise<DnsTestServer> {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg: Buffer, peer: RemoteInfo) => {
    const { name, type } = parseQuestion(msg);
    queries.push(`${TYPES[type] ?? type} ${name}`);
    const reply = answer(msg, zone);
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
