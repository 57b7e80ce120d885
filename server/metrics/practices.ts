// pulse_practice_status: one-hot, seven series per practice (≈ 44,100 at 6,300 practices).
// Every line is encoded once at start, end to end in one buffer with value 0; a scrape
// moves each practice's `1` only when its status changed since the last scrape. It hands out
// copies by block of 256 practices, made again only for a block where a status moved (a
// scrape still in flight may hold the previous ones; and a 3.5 MB copy per scrape costs a
// garbage collection now and then).
import type { Estate } from '../config/estate';
import type { PracticeView } from '../live/protocol';
import { STATUS_LEVELS, type StatusLevel } from '../status/types';
import { escape, header } from './text';

const ZERO = 0x30;
const ONE = 0x31;
const LEVELS = STATUS_LEVELS.length;
const STATUS_INDEX = new Map<StatusLevel, number>(STATUS_LEVELS.map((status, i) => [status, i]));

/** Practices per copied block. */
const BLOCK = 256;

const HEADER = header('pulse_practice_status', 'gauge', 'Current status of each practice, one-hot: 1 for its status, 0 for the other six levels.');

export class PracticeSeries {
  private readonly index = new Map<string, number>();
  /** HELP, TYPE and every line, values 0 but the hot ones. */
  private readonly text: Buffer;
  /** Where the value byte of (practice, status level) is, at practice × 7 + level. */
  private readonly valueAt: Uint32Array;
  /** The position of each practice's `1`, or -1. */
  private readonly hot: Int32Array;
  /** The scrape that last saw each practice in the views. */
  private readonly seen: Uint32Array;
  private epoch = 0;
  /** Each block's bytes as last handed out, and whether a status in it moved since. */
  private readonly chunks: Buffer[] = [];
  private readonly dirty: Uint8Array;
  /** Where each block starts in `text` (the last entry: its end). */
  private readonly blockStart: Uint32Array;

  constructor(estate: Estate) {
    const lines: string[] = [HEADER];
    for (const p of estate.practices.values()) {
      this.index.set(p.ods, this.index.size);
      const labels = `ods="${escape(p.ods)}",pcn="${escape(p.pcn)}",icb="${escape(p.icb ?? '')}"`;
      for (const status of STATUS_LEVELS) lines.push(`pulse_practice_status{${labels},status="${status}"} 0\n`);
    }
    this.valueAt = new Uint32Array(this.index.size * LEVELS);
    let at = Buffer.byteLength(HEADER);
    for (let i = 1; i < lines.length; i++) {
      at += Buffer.byteLength(lines[i]!);
      this.valueAt[i - 1] = at - 2; // the byte before the newline
    }
    this.text = Buffer.from(lines.join(''), 'utf8');
    this.hot = new Int32Array(this.index.size).fill(-1);
    this.seen = new Uint32Array(this.index.size);
    const blocks = Math.ceil(this.index.size / BLOCK);
    this.dirty = new Uint8Array(blocks).fill(1);
    this.blockStart = new Uint32Array(blocks + 1);
    this.blockStart[0] = 0; // the first block carries HELP and TYPE
    for (let b = 1; b < blocks; b++) this.blockStart[b] = lineStart(this.text, this.valueAt[b * BLOCK * LEVELS]!);
    this.blockStart[blocks] = this.text.length;
  }

  /** The family as it stands in `views` (every practice is in them: they are built from the same estate), as chunks. */
  render(views: Iterable<PracticeView>): Buffer[] {
    const epoch = ++this.epoch;
    const { text, hot, seen } = this;
    for (const p of views) {
      const i = this.index.get(p.ods);
      const level = STATUS_INDEX.get(p.status);
      if (i === undefined || level === undefined) continue;
      seen[i] = epoch;
      const at = this.valueAt[i * LEVELS + level]!;
      if (hot[i] === at) continue;
      if (hot[i]! >= 0) text[hot[i]!] = ZERO;
      text[at] = ONE;
      hot[i] = at;
      this.dirty[Math.floor(i / BLOCK)] = 1;
    }
    // A practice missing from the views: all seven at 0.
    for (let i = 0; i < hot.length; i++) {
      if (seen[i] !== epoch && hot[i]! >= 0) {
        text[hot[i]!] = ZERO;
        hot[i] = -1;
        this.dirty[Math.floor(i / BLOCK)] = 1;
      }
    }
    for (let b = 0; b < this.dirty.length; b++) {
      if (this.dirty[b] === 0) continue;
      // Fresh memory each time: on this VM ~4 ms per MB in page faults, so only the blocks that moved.
      const from = this.blockStart[b]!;
      const to = this.blockStart[b + 1]!;
      const chunk = Buffer.allocUnsafe(to - from);
      text.copy(chunk, 0, from, to);
      this.chunks[b] = chunk;
      this.dirty[b] = 0;
    }
    // No practices: the family's HELP and TYPE alone.
    return this.dirty.length > 0 ? this.chunks.slice() : [Buffer.from(HEADER)];
  }
}

/** Where the line holding byte `at` starts: just after the newline before it. */
function lineStart(text: Buffer, at: number): number {
  while (at > 0 && text[at - 1] !== 0x0a) at--;
  return at;
}
