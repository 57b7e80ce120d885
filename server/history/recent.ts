// The last N raw results of every check, in memory only, for "what happened just now"
// views. Bounded: a fixed number of slots per check in shared typed arrays (about 23 bytes
// a slot), so 50,000 checks × 60 results cost a known ~70 MB however long Pulse runs.
// Never persisted, never consulted for status.
//
// What a slot keeps: start time, latency, outcome (ok / ok but degraded / the error class)
// and location. Text is kept only where an operator needs it: a failure's `detail` and a
// degraded result's reason. A passing result's `detail` (e.g. "200 OK") is not kept.
import { ERROR_CLASSES, type CheckResult, type ErrorClass } from '../../probes/types';

export interface RecentResultsOptions {
  /** Results kept per check; default 60. */
  perCheck?: number;
  /** Checks tracked at most; results for further new checks are dropped. Default 200,000. */
  maxChecks?: number;
  /** Checks to make room for at once (e.g. the estate's check count), so growth never overshoots. */
  initialChecks?: number;
}

const OK = 0;
const OK_DEGRADED = 1;
const FAILED = 2; // + index into ERROR_CLASSES

export class RecentResults {
  readonly perCheck: number;
  private readonly maxChecks: number;
  private readonly index = new Map<string, number>();
  private readonly free: number[] = [];
  private readonly locations: string[] = [];
  private readonly locationIndex = new Map<string, number>();
  private capacity = 0;
  private used = 0;
  private at = new Float64Array(0);
  private latency = new Float32Array(0);
  private outcome = new Uint8Array(0);
  private location = new Uint16Array(0);
  private text: (string | undefined)[] = [];
  /** Per check: next slot to write, and how many are filled. */
  private head = new Uint32Array(0);
  private filled = new Uint32Array(0);
  private droppedResults = 0;

  constructor(opts: RecentResultsOptions = {}) {
    this.perCheck = opts.perCheck ?? 60;
    this.maxChecks = opts.maxChecks ?? 200_000;
    if (!(Number.isInteger(this.perCheck) && this.perCheck >= 1)) throw new RangeError('perCheck must be a positive integer');
    if (opts.initialChecks) this.grow(Math.min(this.maxChecks, opts.initialChecks));
  }

  get size(): number {
    return this.index.size;
  }

  /** Results not kept because `maxChecks` was reached or 65,535 locations were seen. */
  get dropped(): number {
    return this.droppedResults;
  }

  /** Bytes held by the slot arrays (text kept for failures comes on top). */
  get bytes(): number {
    const slots = this.capacity * this.perCheck;
    return slots * (8 + 4 + 1 + 2 + 8) + this.capacity * 8;
  }

  push(result: CheckResult): void {
    const check = this.slotOf(result.checkId);
    const where = check === null ? null : this.locationOf(result.location);
    if (check === null || where === null) {
      this.droppedResults++;
      return;
    }
    const i = check * this.perCheck + this.head[check]!;
    this.at[i] = result.at;
    this.latency[i] = result.latencyMs;
    this.location[i] = where;
    if (result.ok) {
      this.outcome[i] = result.degraded ? OK_DEGRADED : OK;
      this.text[i] = result.degraded;
    } else {
      this.outcome[i] = FAILED + Math.max(0, ERROR_CLASSES.indexOf(result.error));
      this.text[i] = result.detail;
    }
    this.head[check] = (this.head[check]! + 1) % this.perCheck;
    if (this.filled[check]! < this.perCheck) this.filled[check]!++;
  }

  /** The check's kept results in the order they were pushed, oldest first; empty for a check never seen. */
  recent(checkId: string): CheckResult[] {
    const check = this.index.get(checkId);
    if (check === undefined) return [];
    const n = this.filled[check]!;
    const out: CheckResult[] = [];
    const first = (this.head[check]! - n + this.perCheck) % this.perCheck;
    for (let k = 0; k < n; k++) {
      const i = check * this.perCheck + ((first + k) % this.perCheck);
      const base = { checkId, at: this.at[i]!, location: this.locations[this.location[i]!]!, latencyMs: this.latency[i]! };
      const code = this.outcome[i]!;
      const text = this.text[i];
      if (code === OK) out.push({ ...base, ok: true });
      else if (code === OK_DEGRADED) out.push({ ...base, ok: true, degraded: text ?? '' });
      else out.push({ ...base, ok: false, error: ERROR_CLASSES[code - FAILED] as ErrorClass, detail: text ?? '' });
    }
    return out;
  }

  /** Drops a check (removed from the estate); its slots are reused. */
  forget(checkId: string): void {
    const check = this.index.get(checkId);
    if (check === undefined) return;
    this.index.delete(checkId);
    this.head[check] = 0;
    this.filled[check] = 0;
    this.text.fill(undefined, check * this.perCheck, (check + 1) * this.perCheck);
    this.free.push(check);
  }

  private slotOf(checkId: string): number | null {
    const known = this.index.get(checkId);
    if (known !== undefined) return known;
    let check = this.free.pop();
    if (check === undefined) {
      if (this.used >= this.maxChecks) return null;
      if (this.used === this.capacity) this.grow(Math.min(this.maxChecks, Math.max(64, this.capacity * 2)));
      check = this.used++;
    }
    this.index.set(checkId, check);
    return check;
  }

  private locationOf(name: string): number | null {
    const known = this.locationIndex.get(name);
    if (known !== undefined) return known;
    if (this.locations.length > 0xffff) return null;
    this.locations.push(name);
    this.locationIndex.set(name, this.locations.length - 1);
    return this.locations.length - 1;
  }

  private grow(capacity: number): void {
    const slots = capacity * this.perCheck;
    const copy = <T extends Float64Array | Float32Array | Uint8Array | Uint16Array | Uint32Array>(old: T, next: T): T => {
      next.set(old);
      return next;
    };
    this.at = copy(this.at, new Float64Array(slots));
    this.latency = copy(this.latency, new Float32Array(slots));
    this.outcome = copy(this.outcome, new Uint8Array(slots));
    this.location = copy(this.location, new Uint16Array(slots));
    this.head = copy(this.head, new Uint32Array(capacity));
    this.filled = copy(this.filled, new Uint32Array(capacity));
    const text = new Array<string | undefined>(slots).fill(undefined);
    for (let i = 0; i < this.text.length; i++) text[i] = this.text[i];
    this.text = text;
    this.capacity = capacity;
  }
}
