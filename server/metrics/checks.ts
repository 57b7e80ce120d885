// The per-check families (pulse_check_success, pulse_check_duration_seconds,
// pulse_check_certificate_expiry_timestamp_seconds, pulse_checks) and the result counts of
// pulse_check_results_total.
//
// Ingest (every result batch) only writes numbers into typed arrays, by check index and
// probe-location slot, and marks the check and its block of BLOCK_SIZE checks dirty: no
// object, label set or string is made per result. A scrape re-renders only the blocks that
// changed (a result arrived, or a result in them went stale or came into the skew window),
// each block to its own three Buffers, and reuses the rest as they are; the body is those
// cached chunks end to end. Blocks are rendered in slices (see Slicer), never all at once.
import type { CheckResult } from '../../probes/types';
import { ERROR_CLASSES } from '../../probes/types';
import type { Estate } from '../config/estate';
import { FLEET_CHECK_KIND } from '../fleet/toResult';
import { MAX_CLOCK_SKEW_MS, staleAfterMs } from '../status/rollup';
import { escape, header, type Slicer } from './text';

/**
 * `result` label values of pulse_check_results_total: ok, the error classes, then `impaired`
 * (a failure or slow run while its worker could not judge: not the target's fault).
 */
export const RESULT_LABELS = ['ok', ...ERROR_CLASSES, 'impaired'] as const;
const RESULTS = RESULT_LABELS.length;
const ERROR_INDEX = new Map<string, number>(ERROR_CLASSES.map((e, i) => [e, i + 1]));
const IMPAIRED_INDEX = RESULTS - 1;

/** Checks per cached block: small enough to render in well under a millisecond. */
export const BLOCK_SIZE = 256;
const BLOCK_SHIFT = Math.log2(BLOCK_SIZE);

// Flags of one (check, location) slot.
const PRESENT = 1;
const OK = 2;
const JUDGED = 4;

// A check's state as pulse_check_success shows it.
const NO_DATA = 0;
const PASSING = 1;
const FAILING = 2;

const EMPTY = Buffer.alloc(0);

const HEADERS = {
  success: header('pulse_check_success', 'gauge', 'Whether the newest result of each check passed: 1 when it passed at every probe location with a fresh result, 0 when it failed at any; absent while no location has a fresh result.'),
  duration: header('pulse_check_duration_seconds', 'gauge', 'How long the newest fresh result of each check took; absent while no location has a fresh result.'),
  expiry: header('pulse_check_certificate_expiry_timestamp_seconds', 'gauge', 'notAfter of the server certificate (Unix seconds), from the newest result of the check that carried one.'),
  checks: header('pulse_checks', 'gauge', 'Checks by the state of their newest results: passing, failing, or no_data (no fresh result from any location; pulse_check_success absent).'),
};

/** One block's cached text; a new Buffer each render, never written to after (a scrape in flight may hold it). */
interface Block {
  success: Buffer;
  duration: Buffer;
  expiry: Buffer;
  passing: number;
  failing: number;
  noData: number;
  /** The block's text holds while now <= this (the earliest moment one of its checks changes by time alone). */
  validUntil: number;
  /** A result changed a check of it (success or duration). */
  dirty: boolean;
  /** A certificate expiry of it changed. */
  certDirty: boolean;
}

/** The chunks of one scrape, in family order. */
export interface CheckChunks {
  chunks: Buffer[];
  /** Blocks rendered afresh by this scrape (the rest were reused). */
  rendered: number;
}

export class CheckSeries {
  /** Check kinds, in order of first appearance in the estate. */
  readonly kinds: string[] = [];
  /** Results received, kinds × RESULT_LABELS (pulse_check_results_total reads it at scrape time). */
  readonly counts: Float64Array;

  private readonly n: number;
  private readonly index = new Map<string, number>();
  private readonly kindOf: Uint16Array;
  private readonly timed: Uint8Array;
  private readonly staleMs: Float64Array;
  /** Each check's whole pulse_check_success line for 1 and for 0, built once. */
  private readonly successLine: [string[], string[]] = [[], []];
  private readonly durationPrefix: string[] = [];
  private readonly expiryPrefix: string[] = [];

  // Newest result per (check, location slot), at check × stride + slot.
  private readonly locations = new Map<string, number>();
  private stride = 2;
  private at: Float64Array;
  private latencyMs: Float64Array;
  private flags: Uint8Array;
  /** The newest certificate notAfter seen (epoch ms; NaN: none), kept while later runs fail without one. */
  private readonly certExpiresAt: Float64Array;
  // The location looked up last: a batch comes from one connection, so one location.
  private lastLocation: string | null = null;
  private lastSlot = 0;

  // Each check's state as last evaluated, and until when it holds.
  private readonly dirty: Uint8Array;
  private readonly state: Uint8Array;
  private readonly validUntil: Float64Array;
  /** The newest fresh latency behind `durationText`, its whole pulse_check_duration_seconds line ('' for none) (NaN: none). */
  private readonly shownLatencyMs: Float64Array;
  private readonly durationText: string[];
  private readonly blocks: Block[] = [];
  /** Every label of these families is ASCII (check ids, kinds and subjects are, by the estate schema): encoded byte for byte. */
  private readonly encoding: 'latin1' | 'utf8';

  constructor(estate: Estate) {
    const kindIndex = new Map<string, number>();
    this.n = estate.checks.size;
    this.kindOf = new Uint16Array(this.n);
    this.timed = new Uint8Array(this.n);
    this.staleMs = new Float64Array(this.n);
    let i = 0;
    for (const c of estate.checks.values()) {
      let k = kindIndex.get(c.kind);
      if (k === undefined) {
        kindIndex.set(c.kind, (k = this.kinds.length));
        this.kinds.push(c.kind);
      }
      this.index.set(c.id, i);
      this.kindOf[i] = k;
      this.timed[i] = c.kind !== FLEET_CHECK_KIND ? 1 : 0;
      this.staleMs[i] = staleAfterMs(c.intervalMs, c.timeoutMs);
      const id = escape(c.id);
      const kind = escape(c.kind);
      const success = `pulse_check_success{check="${id}",kind="${kind}",subject="${c.subject.type}:${escape(c.subject.id)}"} `;
      this.successLine[0].push(`${success}1\n`);
      this.successLine[1].push(`${success}0\n`);
      this.durationPrefix.push(`pulse_check_duration_seconds{check="${id}",kind="${kind}"} `);
      this.expiryPrefix.push(`pulse_check_certificate_expiry_timestamp_seconds{check="${id}"} `);
      i++;
    }
    const ascii = (t: string) => /^[\x00-\x7f]*$/.test(t);
    this.encoding = this.successLine[0].every(ascii) && this.durationPrefix.every(ascii) && this.expiryPrefix.every(ascii) ? 'latin1' : 'utf8';
    this.counts = new Float64Array(this.kinds.length * RESULTS);
    this.at = new Float64Array(this.n * this.stride);
    this.latencyMs = new Float64Array(this.n * this.stride);
    this.flags = new Uint8Array(this.n * this.stride);
    this.certExpiresAt = new Float64Array(this.n).fill(Number.NaN);
    this.dirty = new Uint8Array(this.n);
    this.state = new Uint8Array(this.n);
    this.validUntil = new Float64Array(this.n).fill(Number.POSITIVE_INFINITY);
    this.shownLatencyMs = new Float64Array(this.n).fill(Number.NaN);
    this.durationText = new Array<string>(this.n).fill('');
    for (let b = 0; b * BLOCK_SIZE < this.n; b++) {
      // Nothing received yet: every check no_data, no lines, until a result arrives.
      this.blocks.push({ success: EMPTY, duration: EMPTY, expiry: EMPTY, passing: 0, failing: 0, noData: Math.min(BLOCK_SIZE, this.n - b * BLOCK_SIZE), validUntil: Number.POSITIVE_INFINITY, dirty: false, certDirty: false });
    }
  }

  /**
   * Records results (unknown checks ignored). `count`: also count them in
   * pulse_check_results_total (results from probe workers, not the server's own).
   */
  record(results: readonly CheckResult[], count: boolean): void {
    const { index, at, flags, counts, kindOf, blocks } = this;
    for (let j = 0; j < results.length; j++) {
      const r = results[j]!;
      const i = index.get(r.checkId);
      if (i === undefined) continue;
      // isUnjudged (status/rollup.ts), inlined: an impaired observer's failure or slow run.
      const judged = r.impaired === undefined || (r.ok && r.degraded === undefined);
      if (count) {
        const which = !judged ? IMPAIRED_INDEX : r.ok ? 0 : ERROR_INDEX.get(r.error);
        if (which !== undefined) counts[kindOf[i]! * RESULTS + which]!++;
      }
      const slot = r.location === this.lastLocation ? this.lastSlot : this.slotOf(r.location);
      const k = i * this.stride + slot;
      const f = flags[k]!;
      // An older result than this location's newest changes nothing (unless far older: a reset clock).
      if ((f & PRESENT) !== 0 && r.at < at[k]! && at[k]! - r.at <= MAX_CLOCK_SKEW_MS) continue;
      at[k] = r.at;
      this.latencyMs[k] = r.latencyMs;
      flags[k] = PRESENT | (r.ok ? OK : 0) | (judged ? JUDGED : 0);
      this.dirty[i] = 1;
      const block = blocks[i >>> BLOCK_SHIFT]!;
      block.dirty = true;
      const notAfter = r.certExpiresAt;
      if (notAfter !== undefined && Number.isFinite(notAfter) && notAfter !== this.certExpiresAt[i]) {
        this.certExpiresAt[i] = notAfter;
        block.certDirty = true;
      }
    }
  }

  /** The slot of a probe location, made on first sight (the gateway bounds how many there are). */
  private slotOf(location: string): number {
    let slot = this.locations.get(location);
    if (slot === undefined) {
      slot = this.locations.size;
      this.locations.set(location, slot);
      if (slot >= this.stride) this.widen(this.stride * 2);
    }
    this.lastLocation = location;
    this.lastSlot = slot;
    return slot;
  }

  private widen(stride: number): void {
    const at = new Float64Array(this.n * stride);
    const latencyMs = new Float64Array(this.n * stride);
    const flags = new Uint8Array(this.n * stride);
    for (let i = 0; i < this.n; i++) {
      at.set(this.at.subarray(i * this.stride, (i + 1) * this.stride), i * stride);
      latencyMs.set(this.latencyMs.subarray(i * this.stride, (i + 1) * this.stride), i * stride);
      flags.set(this.flags.subarray(i * this.stride, (i + 1) * this.stride), i * stride);
    }
    this.at = at;
    this.latencyMs = latencyMs;
    this.flags = flags;
    this.stride = stride;
  }

  /** Merges a check's locations as of `now` (the engine's freshness rule) into its state and duration text. */
  private evaluate(i: number, now: number): void {
    const { at, flags } = this;
    const staleMs = this.staleMs[i]!;
    const base = i * this.stride;
    const end = base + this.locations.size;
    let failed = false;
    let newestAt = Number.NEGATIVE_INFINITY;
    let newestLatencyMs = Number.NaN;
    let validUntil = Number.POSITIVE_INFINITY;
    for (let k = base; k < end; k++) {
      const f = flags[k]!;
      // Not present, or no evidence (an impaired observer's failure): only a new result changes that.
      if ((f & PRESENT) === 0 || (f & JUDGED) === 0) continue;
      const t = at[k]!;
      if (t - now > MAX_CLOCK_SKEW_MS) {
        // Dated ahead: counted from when it comes within the skew (a conservative bound: 1 ms early).
        validUntil = Math.min(validUntil, t - MAX_CLOCK_SKEW_MS - 1);
        continue;
      }
      if (now - t > staleMs) continue;
      validUntil = Math.min(validUntil, t + staleMs);
      if ((f & OK) === 0) failed = true;
      if (t > newestAt) {
        newestAt = t;
        newestLatencyMs = this.latencyMs[k]!;
      }
    }
    this.validUntil[i] = validUntil;
    this.dirty[i] = 0;
    if (newestAt === Number.NEGATIVE_INFINITY) {
      this.state[i] = NO_DATA;
      this.shownLatencyMs[i] = Number.NaN;
      this.durationText[i] = '';
      return;
    }
    this.state[i] = failed ? FAILING : PASSING;
    if (this.timed[i] === 0) return;
    if (newestLatencyMs !== this.shownLatencyMs[i] || this.durationText[i] === '') {
      this.shownLatencyMs[i] = newestLatencyMs;
      this.durationText[i] = `${this.durationPrefix[i]!}${String(newestLatencyMs / 1000)}\n`;
    }
  }

  /** Scratch for one block's lines (joined once: one flat string, no chain of concatenations). */
  private readonly lines: string[] = [];
  private readonly durationLines: string[] = [];

  private renderBlock(block: Block, b: number, now: number): void {
    const start = b * BLOCK_SIZE;
    const end = Math.min(this.n, start + BLOCK_SIZE);
    const { lines, durationLines } = this;
    lines.length = 0;
    durationLines.length = 0;
    let passing = 0;
    let validUntil = Number.POSITIVE_INFINITY;
    for (let i = start; i < end; i++) {
      if (this.dirty[i] === 1 || now > this.validUntil[i]!) this.evaluate(i, now);
      validUntil = Math.min(validUntil, this.validUntil[i]!);
      const state = this.state[i];
      if (state === NO_DATA) continue;
      if (state === PASSING) passing++;
      lines.push(this.successLine[state === PASSING ? 0 : 1][i]!);
      const text = this.durationText[i]!;
      if (text !== '') durationLines.push(text);
    }
    block.success = Buffer.from(lines.join(''), this.encoding);
    block.duration = Buffer.from(durationLines.join(''), this.encoding);
    block.passing = passing;
    block.failing = lines.length - passing;
    block.noData = end - start - lines.length;
    block.validUntil = validUntil;
    block.dirty = false;
  }

  private renderExpiry(block: Block, b: number): void {
    const start = b * BLOCK_SIZE;
    const end = Math.min(this.n, start + BLOCK_SIZE);
    let expiry = '';
    for (let i = start; i < end; i++) {
      const notAfter = this.certExpiresAt[i]!;
      if (!Number.isNaN(notAfter)) expiry += `${this.expiryPrefix[i]!}${String(notAfter / 1000)}\n`;
    }
    block.expiry = Buffer.from(expiry, this.encoding);
    block.certDirty = false;
  }

  /**
   * The four per-check families as chunks, re-rendering what changed, in slices: each block
   * is judged at the moment it is rendered (`now()`), and pulse_checks counts exactly the
   * success lines written.
   */
  async chunks(now: () => number, slicer: Slicer): Promise<CheckChunks> {
    const n = this.blocks.length;
    const success: Buffer[] = new Array<Buffer>(n);
    const duration: Buffer[] = new Array<Buffer>(n);
    const expiry: Buffer[] = new Array<Buffer>(n);
    let passing = 0;
    let failing = 0;
    let noData = 0;
    let rendered = 0;
    let t = now();
    for (let b = 0; b < n; b++) {
      if (slicer.due()) {
        await slicer.yieldNow();
        t = now();
      }
      const block = this.blocks[b]!;
      if (block.dirty || t > block.validUntil) {
        this.renderBlock(block, b, t);
        rendered++;
      }
      if (block.certDirty) this.renderExpiry(block, b);
      success[b] = block.success;
      duration[b] = block.duration;
      expiry[b] = block.expiry;
      passing += block.passing;
      failing += block.failing;
      noData += block.noData;
    }
    const checks = Buffer.from(`${HEADERS.checks}pulse_checks{state="passing"} ${passing}\npulse_checks{state="failing"} ${failing}\npulse_checks{state="no_data"} ${noData}\n`);
    return {
      chunks: [Buffer.from(HEADERS.success), ...success, Buffer.from(HEADERS.duration), ...duration, Buffer.from(HEADERS.expiry), ...expiry, checks],
      rendered,
    };
  }
}
