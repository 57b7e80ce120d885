// The fault table: which targets are failing, how, and who asked. Faults stack per
// target in layers (an operator's fault over a scenario's, or two scenarios'), the
// newest in effect, so ending one scenario never undoes another's or an operator's.
// Pure bookkeeping and validation: no sockets, no timers. Never imported by production code.
import { z } from 'zod';
import { faultModes, type ActiveFault, type Fault, type FaultSource } from './types';

interface Layer {
  fault: Fault;
  source: FaultSource;
  until?: number;
}

export class FaultTable {
  private readonly layers = new Map<string, Layer[]>();

  /** Sets `source`'s fault on `target`, replacing that source's earlier one there. */
  set(target: string, fault: Fault, source: FaultSource, until?: number): void {
    const kept = (this.layers.get(target) ?? []).filter((l) => l.source !== source);
    kept.push(until === undefined ? { fault, source } : { fault, source, until });
    this.layers.set(target, kept);
  }

  /** The fault in effect on `target`, or null when it is healthy. */
  effective(target: string): Fault | null {
    return this.layers.get(target)?.at(-1)?.fault ?? null;
  }

  /** Clears every layer on `target`. */
  clearTarget(target: string): void {
    this.layers.delete(target);
  }

  /** Clears `source`'s layers everywhere; returns the targets it touched. */
  clearSource(source: FaultSource): string[] {
    const touched: string[] = [];
    for (const [target, layers] of this.layers) {
      const kept = layers.filter((l) => l.source !== source);
      if (kept.length === layers.length) continue;
      touched.push(target);
      if (kept.length === 0) this.layers.delete(target);
      else this.layers.set(target, kept);
    }
    return touched;
  }

  /** Clears everything; returns the targets that had faults. */
  clearAll(): string[] {
    const touched = [...this.layers.keys()];
    this.layers.clear();
    return touched;
  }

  snapshot(): Record<string, ActiveFault> {
    const out: Record<string, ActiveFault> = {};
    for (const [target, layers] of [...this.layers].sort(([a], [b]) => a.localeCompare(b))) {
      const top = layers.at(-1);
      if (!top) continue;
      out[target] = { ...top.fault, source: top.source, ...(top.until === undefined ? {} : { until: top.until }) };
    }
    return out;
  }
}

/** Defaults and bounds for a fault's options. */
export const DEFAULT_SLOW_MS = 3_000;
export const MAX_SLOW_MS = 10 * 60_000;
export const DEFAULT_ERROR_STATUS = 500;

/**
 * A fault request as an operator sends it, checked once at each edge (the `fail` call and
 * the control API): `ms` only with `slow`, `status` (400-599) only with `error`.
 */
export const faultRequestSchema = z
  .object({
    target: z.string().min(1, 'expected a target such as service:emis-web or practice:A81001'),
    mode: z.enum(faultModes, { error: `expected one of ${faultModes.join(', ')}` }),
    ms: z.number().int().min(0).max(MAX_SLOW_MS).optional(),
    status: z.number().int().min(400).max(599).optional(),
  })
  .strict()
  .superRefine((req, ctx) => {
    if (req.ms !== undefined && req.mode !== 'slow') {
      ctx.addIssue({ code: 'custom', path: ['ms'], message: `ms applies only to mode slow, not ${req.mode}` });
    }
    if (req.status !== undefined && req.mode !== 'error') {
      ctx.addIssue({ code: 'custom', path: ['status'], message: `status applies only to mode error, not ${req.mode}` });
    }
  });

export type FaultRequest = z.infer<typeof faultRequestSchema>;

export function toFault(req: FaultRequest): Fault {
  switch (req.mode) {
    case 'down':
      return { mode: 'down' };
    case 'hang':
      return { mode: 'hang' };
    case 'slow':
      return { mode: 'slow', ms: req.ms ?? DEFAULT_SLOW_MS };
    case 'error':
      return { mode: 'error', status: req.status ?? DEFAULT_ERROR_STATUS };
  }
}

/** The first problem in a zod error as `field: message`, plus the field on its own. */
export function describeIssue(error: z.ZodError, fallbackField = 'body'): { field: string; message: string } {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : fallbackField;
  return { field, message: `${field}: ${issue?.message ?? 'invalid'}` };
}
