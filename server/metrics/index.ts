// Prometheus metrics for one Pulse instance, on its own registries (so tests can run several
// servers in one process). The catalogue, its labels and their worst-case series counts are
// in docs/metrics.md. Labels come from bounded sets only (ODS code, PCN, ICB, service, check
// id, check kind, probe location, status and fixed enumerations): never URLs or free text.
//
// Two kinds of family. The small ones are prom-client metrics (families.ts), most filled by
// collect callbacks at scrape time. The per-check and per-practice ones (≈ 195,000 series at
// 6,300 practices × 8 checks) are kept as text by Pulse itself: checks.ts caches them in
// blocks re-rendered only when a result (or the passing of time) changed them, practices.ts
// patches one-hot bytes; a scrape concatenates the cached chunks, in slices that yield to the
// event loop. Ingest writes numbers into typed arrays, nothing more (bench: test/bench/metrics.ts).
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ObserverHealth } from '../../probes/protocol';
import type { CheckResult } from '../../probes/types';
import type { HeartbeatRejectReason } from '../api/heartbeats';
import type { Estate } from '../config/estate';
import type { IncidentKind } from '../incidents';
import type { PracticeView, ServiceView } from '../live/protocol';
import type { StatusLevel } from '../status/types';
import type { StoreUnavailableReason } from '../store/health';
import type { LocationRejectReason, RejectReason } from '../workers/gateway';
import { CheckSeries } from './checks';
import { registerFamilies, type StoreOperation } from './families';
import { PracticeSeries } from './practices';
import { Slicer } from './text';

export { INCIDENT_KINDS, STORE_OPERATIONS, type StoreOperation } from './families';
export { metricsTokenCheck } from './token';

export interface MetricsSources {
  estate: Estate;
  /** Server clock, epoch ms. */
  now: () => number;
  practiceCounts: () => Record<StatusLevel, number> & { backup: number };
  serviceCounts: () => Record<StatusLevel, number>;
  practices: () => Iterable<PracticeView>;
  services: () => Iterable<ServiceView>;
  openIncidents: () => Iterable<{ kind: IncidentKind }>;
  liveClients: () => number;
  /** The connected probe workers (gateway.workers()): lag, and their own view of their health. */
  workers: () => { location: string; lagMs: number; self?: ObserverHealth | null; impaired?: string | null }[];
  /** Results the gateway refused for their time, by reason (gateway.rejected()). */
  rejectedResults?: () => Readonly<Record<RejectReason, number>>;
  /** Worker hellos the gateway refused for their location, by reason (gateway.locationsRejected()). */
  rejectedLocations?: () => Readonly<Record<LocationRejectReason, number>>;
  /** True while Pulse's self-incident is open (some observer, a worker or the server, cannot judge). */
  selfImpaired?: () => boolean;
  /** The server's own event-loop delay (ms) as its self-watch judges it (p99 over its window). */
  serverEventLoopDelayMs?: () => number;
  /** Why the store refuses writes now (disk full, read-only, …), or null while it takes them. */
  storeProblem?: () => StoreUnavailableReason | null;
  /** Status transitions held in memory for the store, and those dropped past the bound. */
  transitionBacklog?: () => { held: number; dropped: number };
  /** The audit head last anchored outside the table (with each state save), or null before the first. */
  auditAnchor?: () => { seq: number; at: number } | null;
}

export type BackupActionResult = 'ok' | 'failed';

/** A scrape's own cost, as bench:metrics reports it. */
export interface ScrapeStats {
  ms: number;
  slices: number;
  longestSliceMs: number;
  /** CPU time of the process during that slice (on a loaded machine the wall time is longer). */
  longestSliceCpuMs: number;
  /** Which slice that was (1: prom-client's families, the practice status and the first blocks). */
  longestSliceIndex: number;
  /** prom-client's families (the defaults, then the small pulse_* ones, a slice each when long), and the practice status. */
  headMs: number;
  practicesMs: number;
  bytes: number;
  blocksRendered: number;
}

/** How long a scrape runs before it lets the event loop turn (it resumes after pending I/O). */
const SLICE_MS = 8;

export function createMetrics(sources: MetricsSources, options: { sliceMs?: number } = {}) {
  const sliceMs = options.sliceMs ?? SLICE_MS;
  const { estate } = sources;
  // Process and Node.js defaults on a registry of their own: rendered in a slice of their own.
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  const registry = new Registry();
  const checks = new CheckSeries(estate);
  const practices = new PracticeSeries(estate);
  let lastResultAt = sources.now();
  let lastScrape: ScrapeStats | null = null;
  const {
    transitions, backupActions, liveMessages, liveLimited, storeWrites, storeFailures, storeUnavailable,
    serverStalls, serverStalled, heartbeatsRejected, breakGlass,
  } = registerFamilies(registry, sources, checks, () => lastResultAt);

  return {
    registry,
    contentType: registry.contentType,
    /**
     * The whole exposition, UTF-8, as chunks in order: prom-client's families, then the
     * per-check and per-practice ones. Rendered in slices of about SLICE_MS that yield to the
     * event loop between them, from cached chunks re-rendered only where something changed.
     * The chunks are never written to again: send them as they are (bodyStream).
     */
    async scrapeChunks(): Promise<{ chunks: Buffer[]; bytes: number }> {
      const started = performance.now();
      const slicer = new Slicer(sliceMs);
      // The small pulse_* families and the practice status in one slice: pulse_practices and
      // pulse_practice_status come from the same moment, so they agree.
      let t = performance.now();
      const processText = await defaults.metrics();
      let headMs = performance.now() - t;
      if (slicer.due()) await slicer.yieldNow();
      t = performance.now();
      const head = await registry.metrics();
      headMs += performance.now() - t;
      t = performance.now();
      const practiceText = practices.render(sources.practices());
      const practicesMs = performance.now() - t;
      if (slicer.due()) await slicer.yieldNow();
      const checkChunks = await checks.chunks(sources.now, slicer);
      const lines = (text: string) => Buffer.from(text.endsWith('\n') || text === '' ? text : `${text}\n`, 'utf8');
      const chunks = [lines(processText), lines(head), ...checkChunks.chunks, ...practiceText];
      let bytes = 0;
      for (const c of chunks) bytes += c.length;
      slicer.end();
      lastScrape = { ms: performance.now() - started, slices: slicer.slices, longestSliceMs: slicer.longestMs, longestSliceCpuMs: slicer.longestCpuMs, longestSliceIndex: slicer.longestIndex, headMs, practicesMs, bytes, blocksRendered: checkChunks.rendered };
      return { chunks, bytes };
    },
    /** The whole exposition in one Buffer (tests, tools; /metrics streams the chunks). */
    async scrape(): Promise<Buffer<ArrayBuffer>> {
      const { chunks, bytes } = await this.scrapeChunks();
      return Buffer.concat(chunks, bytes);
    },
    /** How the last scrape went (for bench:metrics): its time, slices, longest slice, size, blocks rendered afresh. */
    lastScrape: (): ScrapeStats | null => lastScrape,
    /**
     * Results for the per-check series (results for unknown checks are ignored). From probe
     * workers, they are also counted and move the dead-man's switch; the server's own
     * (workstation-fleet heartbeats, judged every tick) only update their checks' series.
     */
    results(results: readonly CheckResult[], from: 'workers' | 'server' = 'workers'): void {
      if (results.length === 0) return;
      const fromWorkers = from === 'workers';
      if (fromWorkers) lastResultAt = sources.now();
      checks.record(results, fromWorkers);
    },
    transition(subjectType: 'practice' | 'service', to: StatusLevel) {
      transitions.inc({ subject_type: subjectType, to });
    },
    liveMessage(type: string) {
      liveMessages.inc({ type });
    },
    liveLimited(reason: 'snapshot-deferred' | 'resync-coalesced' | 'flood-closed' | 'address-limit') {
      liveLimited.inc({ reason });
    },
    /** One store operation failed for the database itself (see store/health.ts). */
    storeUnavailable(reason: StoreUnavailableReason) {
      storeUnavailable.inc({ reason });
    },
    storeWrite(operation: StoreOperation, seconds: number, ok: boolean) {
      storeWrites.observe({ operation }, seconds);
      if (!ok) storeFailures.inc({ operation });
    },
    /** One backup-mode action attempt: `kind` is `webhook` or `notify`. */
    backupAction(kind: string, result: BackupActionResult) {
      backupActions.inc({ kind, result });
    },
    breakGlass() {
      breakGlass.inc();
    },
    /** A workstation heartbeat refused with 429. */
    heartbeatRejected(reason: HeartbeatRejectReason) {
      heartbeatsRejected.inc({ reason });
    },
    /** The server found it had not run for `ms` (its self-watch calls this once per stall). */
    serverStall(ms: number) {
      serverStalls.inc();
      serverStalled.inc(Math.max(0, ms) / 1000);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Chunks in groups of at least this many bytes (a copy per group), so sending them is a few dozen writes. */
const STREAM_GROUP_BYTES = 1 << 20;

/**
 * A response body over scrape chunks: about 1 MiB per pull, so a 14 MB exposition is never
 * copied whole in one turn of the event loop, and what the socket has not taken waits.
 */
export function bodyStream(chunks: readonly Buffer[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const group: Buffer[] = [];
      let size = 0;
      while (next < chunks.length && size < STREAM_GROUP_BYTES) {
        const c = chunks[next++]!;
        if (c.length === 0) continue;
        group.push(c);
        size += c.length;
      }
      if (group.length > 0) controller.enqueue(group.length === 1 ? group[0]! : Buffer.concat(group, size));
      if (next >= chunks.length) controller.close();
    },
  });
}
