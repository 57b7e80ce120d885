// Maintenance windows: the ones planned in the estate file and the ones added through the
// API (kept in the store). Hands the engine the full list; the engine starts and ends them.
import { randomUUID } from 'node:crypto';
import type { Estate, MaintenanceWindow } from './config/estate';
import type { StatusEngine } from './status/engine';
import type { SignalStore } from './store/types';

export type MaintenanceSource = 'config' | 'api';

export class MaintenanceBook {
  private api: MaintenanceWindow[] = [];

  constructor(
    private readonly estate: Estate,
    private readonly engine: StatusEngine,
    private readonly store: SignalStore,
  ) {}

  async load(now: number): Promise<void> {
    this.api = await this.store.maintenanceWindows(now);
    this.push();
  }

  /** Windows not yet over, with where each came from. */
  list(now: number): (MaintenanceWindow & { source: MaintenanceSource; active: boolean })[] {
    const tag = (source: MaintenanceSource) => (w: MaintenanceWindow) => ({ ...w, source, active: w.start <= now && now < w.end });
    return [...this.estate.maintenance.map(tag('config')), ...this.api.map(tag('api'))]
      .filter((w) => w.end > now)
      .sort((a, b) => a.start - b.start);
  }

  /** Adds a window; returns an error message naming the field, or the window. */
  async add(
    input: { subject: string; start: number; end: number; author: string; reason: string },
    now: number,
  ): Promise<{ error: string } | { window: MaintenanceWindow }> {
    const [type, id] = [input.subject.slice(0, input.subject.indexOf(':')), input.subject.slice(input.subject.indexOf(':') + 1)];
    if (type === 'service' ? !this.estate.services.has(id) : !this.estate.practices.has(id)) {
      return { error: `subject: unknown ${type} "${id}"` };
    }
    if (input.end <= input.start) return { error: 'end: must be after start' };
    if (input.end <= now) return { error: 'end: is in the past' };
    const window: MaintenanceWindow = { ...input, id: randomUUID(), subject: input.subject as MaintenanceWindow['subject'] };
    await this.store.saveMaintenance(window, now);
    this.api.push(window);
    this.push();
    return { window };
  }

  /** Ends (or cancels) an API window now. Windows from the estate file are changed in the file. */
  async cancel(id: string, by: string, now: number): Promise<'cancelled' | 'not-found' | 'from-config'> {
    if (this.estate.maintenance.some((w) => w.id === id)) return 'from-config';
    if (!(await this.store.cancelMaintenance(id, by, now))) return 'not-found';
    this.api = this.api.filter((w) => w.id !== id);
    this.push();
    return 'cancelled';
  }

  private push(): void {
    this.engine.setMaintenance([...this.estate.maintenance, ...this.api]);
  }
}
