// pulse_practice_status: one-hot, seven series per practice (≈ 44,100 at 6,300 practices).
// Every line is encoded once at start, end to end in one buffer with value 0; a scrape
// moves each practice's `1` only when its status changed since the last scrape, and hands
// out a copy (a scrape still in flight may hold the previous one).
import type { Estate } from '../config/estate';
import type { PracticeView } from '../live/protocol';
import { STATUS_LEVELS, type StatusLevel } from '../status/types';
import { escape, header } from './text';

const ZERO = 0x30;
const ONE = 0x31;
const LEVELS = STATUS_LEVELS.length;
const STATUS_INDEX = new Map<StatusLevel, number>(STATUS_LEVELS.map((status, i) => [status, i]));

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
  }

  /** The family as it stands in `views` (every practice is in them: they are built from the same estate). */
  render(views: Iterable<PracticeView>): Buffer {
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
    }
    // A practice missing from the views: all seven at 0.
    for (let i = 0; i < hot.length; i++) {
      if (seen[i] !== epoch && hot[i]! >= 0) {
        text[hot[i]!] = ZERO;
        hot[i] = -1;
      }
    }
    return Buffer.from(text);
  }
}
