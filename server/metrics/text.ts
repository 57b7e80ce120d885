// Text-format helpers for the hand-written families, and the slicing that keeps a scrape
// from holding the event loop.

/** `# HELP` and `# TYPE` lines of one family (HELP text escaped: backslash, newline). */
export function header(name: string, type: 'gauge' | 'counter', help: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

/** A label value in the text format: backslash, double quote and newline escaped. */
export function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Cuts a long piece of work into slices of about `sliceMs`, yielding to the event loop
 * (setImmediate: pending I/O and timers run first) between them; records how long the
 * longest slice ran.
 */
export class Slicer {
  private started = performance.now();
  private cpu = process.cpuUsage();
  slices = 1;
  longestMs = 0;
  /** The process's CPU time during the longest slice. */
  longestCpuMs = 0;
  /** Which slice was the longest (1: the first). */
  longestIndex = 1;

  constructor(private readonly sliceMs: number) {}

  /** True when the slice has run its time: the caller should `await yieldNow()`. */
  due(): boolean {
    return performance.now() - this.started >= this.sliceMs;
  }

  async yieldNow(): Promise<void> {
    this.end();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.slices++;
    this.started = performance.now();
    this.cpu = process.cpuUsage();
  }

  /** Closes the current slice (call once at the end too). */
  end(): void {
    const ms = performance.now() - this.started;
    if (ms < this.longestMs) return;
    this.longestMs = ms;
    this.longestIndex = this.slices;
    const cpu = process.cpuUsage(this.cpu);
    this.longestCpuMs = (cpu.user + cpu.system) / 1000;
  }
}
