import { describe, expect, it } from 'vitest';
import { HttpResponseError, MAX_HEAD_BYTES, ResponseReader } from '../../probes/http-response';

/** Feeds `pieces` in turn; returns the reader and the body it gave, as text. */
function read(pieces: (string | Buffer)[], opts: { head?: boolean } = {}) {
  const reader = new ResponseReader(opts.head ?? false);
  const body: Buffer[] = [];
  for (const piece of pieces) body.push(...reader.feed(Buffer.isBuffer(piece) ? piece : Buffer.from(piece, 'latin1')));
  return { reader, body: Buffer.concat(body).toString('latin1') };
}
/** Every way of cutting `text` in two, and byte by byte. */
function splits(text: string): string[][] {
  const out = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n' +
  '5\r\nhello\r\n' + '1;ext=1\r\n \r\n' + 'A \r\n0123456789\r\n' + '0\r\nX-Trailer: t\r\n\r\n';

describe('HTTP/1.1 response reader', () => {
  it('reads a Content-Length body however the bytes are cut, and stops at its length', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\n\r\nhello world';
    for (const pieces of splits(text)) {
      const { reader, body } = read(pieces);
      expect(reader.done).toBe(true);
      expect(reader.head).toEqual({ status: 200, headers: { 'content-length': '11', 'x-a': '1' } });
      expect(body).toBe('hello world');
    }
  });

  it('decodes a chunked body with extensions and trailers however the bytes are cut', () => {
    for (const pieces of splits(CHUNKED)) {
      const { reader, body } = read(pieces);
      expect(reader.done).toBe(true);
      expect(body).toBe('hello 0123456789');
    }
    // Not done until the last empty line.
    expect(read([CHUNKED.slice(0, -2)]).reader.done).toBe(false);
  });

  it('reads to the close without a length, and knows a Content-Length body cut short from a complete one', () => {
    const open = read(['HTTP/1.0 200 OK\r\n\r\nsome ', 'text']);
    expect(open.reader.done).toBe(false);
    expect(open.body).toBe('some text');
    expect(open.reader.end()).toBe(true);
    const short = read(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial']);
    expect(short.reader.end()).toBe(false);
    expect(read(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n']).reader.end()).toBe(false);
  });

  it('skips interim 1xx responses; has no body for HEAD, 204 and 304 whatever they declare', () => {
    const interim = read(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n', 'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok']);
    expect(interim.reader.head?.status).toBe(201);
    expect(interim.body).toBe('ok');
    expect(read(['HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n'], { head: true }).reader.done).toBe(true);
    expect(read(['HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n']).reader.done).toBe(true);
    expect(read(['HTTP/1.1 304 Not Modified\r\n\r\n']).reader.done).toBe(true);
  });

  it('gives headers as Node does: lower-case names, repeats joined, set-cookie as a list, values trimmed', () => {
    const { reader } = read(['HTTP/1.1 302 Found\r\nLocation:  /next \r\nVia: a\r\nvia: b\r\nSet-Cookie: x=1\r\nSet-Cookie: y=2\r\nContent-Length: 0\r\n\r\n']);
    expect(reader.head).toEqual({ status: 302, headers: { location: '/next', via: 'a, b', 'set-cookie': ['x=1', 'y=2'], 'content-length': '0' } });
  });

  it.each([
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n\r\n', /not an HTTP\/1.x status line: "SSH-2.0-OpenSSH_9.2"/],
    ['a status code that is not three digits', 'HTTP/1.1 20 OK\r\n\r\n', /status line/],
    ['a header line without a name', 'HTTP/1.1 200 OK\r\n: x\r\n\r\n', /malformed header line ": x"/],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n', /invalid Content-Length "ten"/],
    ['two Content-Lengths that disagree', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /invalid Content-Length "1, 2"/],
    ['a chunk size that is not hexadecimal', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size line "zz"/],
    ['chunk data longer than declared', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', /longer than its declared size/],
  ])('refuses %s, saying what was wrong', (_what, text, message) => {
    expect(() => read([text])).toThrow(HttpResponseError);
    expect(() => read([text])).toThrow(message);
  });

  it('refuses headers longer than Node would take, without waiting for their end', () => {
    const long = `HTTP/1.1 200 OK\r\nX-Long: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    expect(() => read([long])).toThrow(`status line and headers longer than ${MAX_HEAD_BYTES} bytes`);
  });
});
