// An incremental reader of one HTTP/1.1 response, as it arrives from a socket in pieces of
// any size: the status line and headers, then the body framed by chunked transfer coding,
// Content-Length or the connection's close (RFC 9112 §6.3). Interim 1xx responses are
// skipped. Pure: no sockets, no clocks; the probe's socket feeds it (probes/http.ts). Checks
// open one connection per run and send `Connection: close`, so one response per reader.
// A response it cannot frame throws HttpResponseError, saying what was wrong.
import type { IncomingHttpHeaders } from 'node:http';

/** As Node's default --max-http-header-size. */
export const MAX_HEAD_BYTES = 16 * 1024;

export class HttpResponseError extends Error {}

export interface ResponseHead {
  status: number;
  /** Lower-case names; repeated headers joined with ", " (set-cookie: a list), as Node gives them. */
  headers: IncomingHttpHeaders;
}

type Framing = 'none' | 'length' | 'chunked' | 'close';
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class ResponseReader {
  head: ResponseHead | null = null;
  /** The whole response has been read. */
  done = false;
  private pending: Buffer | null = null;
  private framing: Framing = 'none';
  /** Body bytes still to come: of the Content-Length, or of the current chunk. */
  private remaining = 0;
  private chunkState: 'size' | 'data' | 'data-end' | 'trailers' = 'size';

  /** `noBody`: the request was HEAD, so no response to it has a body, whatever it declares. */
  constructor(private readonly noBody: boolean) {}

  /** Takes the next bytes from the socket; returns the body bytes among them (views, not copies). */
  feed(data: Buffer): Buffer[] {
    const body: Buffer[] = [];
    let buf = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = null;
    while (buf.length > 0 && !this.done) {
      if (!this.head) {
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          if (buf.length > MAX_HEAD_BYTES) throw new HttpResponseError(`status line and headers longer than ${MAX_HEAD_BYTES} bytes`);
          this.pending = buf;
          return body;
        }
        if (end > MAX_HEAD_BYTES) throw new HttpResponseError(`status line and headers longer than ${MAX_HEAD_BYTES} bytes`);
        this.takeHead(buf.toString('latin1', 0, end));
        buf = buf.subarray(end + HEAD_END.length);
        continue;
      }
      if (this.framing === 'close') {
        body.push(buf);
        return body;
      }
      if (this.framing === 'length') {
        const take = Math.min(this.remaining, buf.length);
        body.push(buf.subarray(0, take));
        this.remaining -= take;
        buf = buf.subarray(take);
        if (this.remaining === 0) this.done = true;
        continue;
      }
      buf = this.chunked(buf, body);
    }
    return body;
  }

  /** The connection ended: true if the response was complete (a close-delimited body ends here). */
  end(): boolean {
    if (this.head && this.framing === 'close') this.done = true;
    return this.done;
  }

  private takeHead(text: string): void {
    const lines = text.split('\r\n');
    const match = STATUS_LINE.exec(lines[0]!);
    if (!match) throw new HttpResponseError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 60))}`);
    const status = Number(match[1]);
    const headers: IncomingHttpHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new HttpResponseError(`malformed header line ${JSON.stringify(line.slice(0, 60))}`);
      const key = name.toLowerCase();
      const value = line.slice(colon + 1).trim();
      const before = headers[key];
      if (key === 'set-cookie') headers[key] = [...((before as string[] | undefined) ?? []), value];
      else (headers as Record<string, string>)[key] = before === undefined ? value : `${before as string}, ${value}`;
    }
    // Interim responses (100 Continue, 103 Early Hints): the real one follows.
    if (status >= 100 && status < 200 && status !== 101) return;
    this.head = { status, headers };
    if (this.noBody || status === 101 || status === 204 || status === 304) {
      this.done = true;
      return;
    }
    const coding = headers['transfer-encoding'];
    if (coding !== undefined) {
      const last = coding.split(',').pop()!.trim().toLowerCase();
      // Not chunked last: the body runs to the close (RFC 9112 §6.3, item 4).
      this.framing = last === 'chunked' ? 'chunked' : 'close';
      return;
    }
    const length = headers['content-length'];
    if (length !== undefined) {
      const values = new Set(length.split(',').map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new HttpResponseError(`invalid Content-Length ${JSON.stringify(length.slice(0, 40))}`);
      this.remaining = Number(only);
      this.framing = 'length';
      if (this.remaining === 0) this.done = true;
      return;
    }
    this.framing = 'close';
  }

  /** One step of the chunked body; returns what is left of `buf`. */
  private chunked(buf: Buffer, body: Buffer[]): Buffer {
    if (this.chunkState === 'data') {
      const take = Math.min(this.remaining, buf.length);
      body.push(buf.subarray(0, take));
      this.remaining -= take;
      if (this.remaining === 0) this.chunkState = 'data-end';
      return buf.subarray(take);
    }
    // A line: the chunk size (with any extensions), the CRLF after the data, or a trailer.
    const eol = buf.indexOf(CRLF);
    if (eol < 0) {
      if (buf.length > MAX_HEAD_BYTES) throw new HttpResponseError('chunk line too long');
      this.pending = buf;
      return Buffer.alloc(0);
    }
    const line = buf.toString('latin1', 0, eol);
    const rest = buf.subarray(eol + CRLF.length);
    if (this.chunkState === 'data-end') {
      if (line !== '') throw new HttpResponseError('chunk data longer than its declared size');
      this.chunkState = 'size';
    } else if (this.chunkState === 'size') {
      const size = /^([0-9A-Fa-f]{1,12})[ \t]*(;.*)?$/.exec(line);
      if (!size) throw new HttpResponseError(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
      this.remaining = parseInt(size[1]!, 16);
      this.chunkState = this.remaining === 0 ? 'trailers' : 'data';
    } else if (line === '') {
      this.done = true; // the empty line after the last chunk and any trailers
    }
    return rest;
  }
}
