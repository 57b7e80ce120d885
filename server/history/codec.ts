// Packs one check's hour of minute summaries into a small Buffer and back. Pure: no
// clock, no I/O. The stored format is versioned by its first byte and must only ever be
// extended under a new version number, never changed in place: old hours stay readable.
//
// Layout, version 1 (all integers unsigned LEB128 varints unless said otherwise):
//
//   byte 0   format version: 1
//   byte 1   flags: bit 0 set = the body below is raw DEFLATE (RFC 1951, node:zlib
//            deflateRaw); other bits are 0
//   body     8 bytes   presence bitmap, little-endian: bit i (byte i>>3, bit i&7) set when
//                      slot i (minute i of the hour) has a summary; then four columns,
//                      one value per present slot in minute order:
//            counts    count
//            failures  failures (≤ count)
//            means     only if some slot has a passing result: first the hour's median
//                      mean, then zigzag(meanMs − that median) for each slot with a
//                      passing result (zigzag: 0, −1, 1, −2, … → 0, 1, 2, 3, …)
//            spreads   maxMs − meanMs, for each slot with a passing result
//
// Latencies are stored in whole milliseconds (rounded, at most 2^31 − 1). Columns rather
// than records, and differences from the median rather than values (a one-minute spike
// then costs once, not twice as with deltas from the previous minute), because runs of
// equal counts, zero failures and small numbers are what DEFLATE shrinks best. Measured
// for a check polled every 30 s with noisy latency: ~120 bytes an hour (2 bytes a
// minute), against ~250 undeflated; the DEFLATE level barely matters at this size.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { HistoryError, SLOTS_PER_HOUR, emptyHour, type HourSlots, type MinuteSummary } from './types';

export const HOUR_FORMAT_VERSION = 1;
const FLAG_DEFLATED = 1;
const BITMAP_BYTES = 8;
/** Generous upper bound of a body: bitmap + median + 4 columns × 60 slots × 8-byte varints. */
const MAX_BODY_BYTES = BITMAP_BYTES + 8 + 4 * SLOTS_PER_HOUR * 8;
/** A deflated body never legitimately inflates past this; guards against a corrupt blob. */
const MAX_INFLATED_BYTES = MAX_BODY_BYTES;

/** Longer than any timeout; keeps a corrupt latency from taking a varint past 5 bytes. */
const MAX_LATENCY_MS = 2 ** 31 - 1;

const scratch = Buffer.alloc(MAX_BODY_BYTES);
/** Measured: level 6 with a 512-byte window is as small as level 9 here, at half the cost. */
const DEFLATE_OPTIONS = { level: 6, windowBits: 9 } as const;

/** Appends a varint to `scratch` at `at`; returns the new end. */
function writeVarint(value: number, at: number): number {
  let v = value;
  while (v >= 0x80) {
    scratch[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  scratch[at++] = v;
  return at;
}

/**
 * Packs 60 slots. With `deflate`, the body is compressed when that makes it smaller
 * (about 20 µs an hour: worth it for an hour that is finished, not for one still
 * being written every minute).
 */
export function packHour(slots: readonly (MinuteSummary | null)[], opts: { deflate: boolean }): Buffer {
  if (slots.length !== SLOTS_PER_HOUR) throw new HistoryError('BAD_MINUTE_ROW', `an hour has ${SLOTS_PER_HOUR} slots, not ${slots.length}`);
  scratch.fill(0, 0, BITMAP_BYTES);
  let at = BITMAP_BYTES;
  for (let i = 0; i < SLOTS_PER_HOUR; i++) if (slots[i]) scratch[i >> 3]! |= 1 << (i & 7);
  for (const s of slots) if (s) at = writeVarint(s.count, at);
  for (const s of slots) if (s) at = writeVarint(s.failures, at);
  const means: number[] = [];
  for (const s of slots) if (s?.latency) means.push(wholeMs(s.latency.meanMs));
  if (means.length > 0) {
    const median = [...means].sort((a, b) => a - b)[(means.length - 1) >> 1]!;
    at = writeVarint(median, at);
    for (const mean of means) at = writeVarint(zigzag(mean - median), at);
  }
  for (const s of slots) {
    if (s?.latency) at = writeVarint(Math.max(0, wholeMs(s.latency.maxMs) - wholeMs(s.latency.meanMs)), at);
  }
  const body = scratch.subarray(0, at);
  if (opts.deflate) {
    const deflated = deflateRawSync(body, DEFLATE_OPTIONS);
    if (deflated.length < body.length) {
      const out = Buffer.allocUnsafe(2 + deflated.length);
      out[0] = HOUR_FORMAT_VERSION;
      out[1] = FLAG_DEFLATED;
      deflated.copy(out, 2);
      return out;
    }
  }
  const out = Buffer.allocUnsafe(2 + at);
  out[0] = HOUR_FORMAT_VERSION;
  out[1] = 0;
  body.copy(out, 2);
  return out;
}

export function isDeflated(blob: Uint8Array): boolean {
  return blob.length >= 2 && (blob[1]! & FLAG_DEFLATED) !== 0;
}

function bad(why: string): never {
  throw new HistoryError('BAD_HOUR_BLOB', `cannot read a stored hour of history: ${why}`);
}

/** A read position in a body. */
class Reader {
  at = BITMAP_BYTES;
  constructor(readonly body: Uint8Array) {}

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= this.body.length) bad('truncated');
      const byte = this.body[this.at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
      if (scale > 2 ** 56) bad('a number is too long');
    }
  }
}

/** Reads a packed hour; throws HistoryError BAD_HOUR_BLOB for anything it did not write. */
export function unpackHour(blob: Uint8Array): HourSlots {
  if (blob.length < 2) bad('shorter than its header');
  if (blob[0] !== HOUR_FORMAT_VERSION) bad(`format version ${blob[0]} is not one this Pulse reads (${HOUR_FORMAT_VERSION})`);
  const flags = blob[1]!;
  if ((flags & ~FLAG_DEFLATED) !== 0) bad(`unknown flags ${flags}`);
  let body: Uint8Array = blob.subarray(2);
  if (flags & FLAG_DEFLATED) {
    try {
      body = inflateRawSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (err) {
      bad(`its compressed body is corrupt (${(err as Error).message})`);
    }
  }
  if (body.length < BITMAP_BYTES) bad('no presence bitmap');
  for (let i = SLOTS_PER_HOUR; i < BITMAP_BYTES * 8; i++) if (body[i >> 3]! & (1 << (i & 7))) bad(`slot ${i} is past the hour`);
  const r = new Reader(body);
  const slots = emptyHour();
  const present: MinuteSummary[] = [];
  for (let i = 0; i < SLOTS_PER_HOUR; i++) {
    if (!(body[i >> 3]! & (1 << (i & 7)))) continue;
    const s: MinuteSummary = { count: 0, failures: 0, latency: null };
    slots[i] = s;
    present.push(s);
  }
  for (const s of present) s.count = r.varint();
  for (const s of present) {
    s.failures = r.varint();
    if (s.count < 1 || s.failures > s.count) bad(`${s.failures} failures of ${s.count} results in a minute`);
  }
  const passing = present.filter((s) => s.failures < s.count);
  const median = passing.length > 0 ? r.varint() : 0;
  for (const s of passing) {
    const mean = median + unzigzag(r.varint());
    if (mean < 0) bad('a negative mean latency');
    s.latency = { meanMs: mean, maxMs: mean };
  }
  for (const s of present) if (s.latency) s.latency.maxMs += r.varint();
  if (r.at !== body.length) bad(`${body.length - r.at} unexpected trailing bytes`);
  return slots;
}

function wholeMs(ms: number): number {
  return Math.min(MAX_LATENCY_MS, Math.max(0, Math.round(ms)));
}

function zigzag(n: number): number {
  return n >= 0 ? 2 * n : -2 * n - 1;
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}
