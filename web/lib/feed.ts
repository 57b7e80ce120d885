// The live feed's decisions, as pure functions: how a server message changes what the
// dashboard holds, when to ask for a new snapshot, when the data is stale, how long to wait
// before reconnecting. No sockets, timers or clocks here (time is passed in), so every rule
// is unit-tested without a browser. It must never compute a status: it keeps what the
// server said.
import type { Counts, IncidentView, LiveServerMessage, PracticeView, ProbesState, ServiceView } from '../../server/live/protocol';

/** What the operator is told about the feed. */
export type ConnectionState = 'connecting' | 'live' | 'stale' | 'offline';

export interface FeedState {
  /** From `hello`; used until the first hello arrives. */
  heartbeatMs: number;
  /** Seq of the last message applied; null until a snapshot arrives on this connection. */
  seq: number | null;
  /** True from connect, or a seq gap, until the next snapshot: deltas are ignored meanwhile. */
  awaitingSnapshot: boolean;
  /** Null until the first snapshot ever: the dashboard has nothing to show yet. */
  practices: Readonly<Record<string, PracticeView>> | null;
  services: Readonly<Record<string, ServiceView>>;
  counts: Counts | null;
  /** Open incidents keyed by id: a snapshot replaces them, a delta upserts, a resolved one leaves. */
  incidents: Readonly<Record<number, IncidentView>>;
  /** Client clock (ms) of the last in-sequence message: what staleness is measured from. */
  lastMessageAt: number | null;
  /** Server time (ISO) the data was last confirmed current: snapshot, delta or heartbeat `at`. */
  lastUpdateAt: string | null;
  /** Client clock (ms) the current socket opened; bounds the wait for a first snapshot. */
  openedAt: number | null;
  /** Whether Pulse's own probes are reporting and can see, from the latest snapshot or heartbeat. */
  probes: ProbesState;
  /**
   * While `probes` is `impaired`: why, in the server's plain words (e.g. `Pulse's probes in
   * local are overloaded: its event loop runs 4.6 s late`), or null when it gave none. Null in every other state.
   */
  impaired: string | null;
}

export type FeedAction = 'none' | 'resync';

export interface FeedStep {
  state: FeedState;
  action: FeedAction;
}

/** The socket as the live module sees it. `lastAttemptFailed`: the last try never opened. */
export interface Link {
  phase: 'connecting' | 'open' | 'closed';
  lastAttemptFailed: boolean;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;

export function initialFeed(): FeedState {
  return {
    heartbeatMs: DEFAULT_HEARTBEAT_MS,
    seq: null,
    awaitingSnapshot: true,
    practices: null,
    services: {},
    counts: null,
    incidents: {},
    lastMessageAt: null,
    lastUpdateAt: null,
    openedAt: null,
    probes: 'ok',
    impaired: null,
  };
}

/** A new socket opened: sequence numbers start again, the old data stays on screen (as stale) until a snapshot. */
export function connected(state: FeedState, now: number): FeedState {
  return { ...state, seq: null, awaitingSnapshot: true, openedAt: now };
}

/** Applies one server message. A seq gap drops the data to "awaiting snapshot" and asks for one, once. */
export function reduce(state: FeedState, message: LiveServerMessage, now: number): FeedStep {
  switch (message.type) {
    case 'hello':
      return { state: { ...state, heartbeatMs: message.heartbeatMs }, action: 'none' };

    case 'snapshot':
      return {
        state: {
          ...state,
          seq: message.seq,
          awaitingSnapshot: false,
          practices: byKey(message.practices, (p) => p.ods),
          services: byKey(message.services, (s) => s.id),
          counts: message.counts,
          incidents: mergeIncidents({}, message.incidents),
          lastMessageAt: now,
          lastUpdateAt: message.at,
          ...probesOf(message),
        },
        action: 'none',
      };

    case 'delta':
    case 'heartbeat': {
      // Already asked for a snapshot: nothing before it can be trusted.
      if (state.awaitingSnapshot || state.seq === null) return { state, action: 'none' };
      if (message.seq !== state.seq + 1) {
        return { state: { ...state, awaitingSnapshot: true }, action: 'resync' };
      }
      const confirmed: FeedState = { ...state, seq: message.seq, lastMessageAt: now, lastUpdateAt: message.at };
      if (message.type === 'heartbeat') return { state: { ...confirmed, ...probesOf(message) }, action: 'none' };
      return {
        state: {
          ...confirmed,
          practices: merge(state.practices ?? {}, message.practices, (p) => p.ods),
          services: merge(state.services, message.services, (s) => s.id),
          counts: message.counts,
          incidents: mergeIncidents(state.incidents, message.incidents),
        },
        action: 'none',
      };
    }
  }
}

/**
 * Pulse's own state as a snapshot or heartbeat says it: a server from before self-monitoring
 * sends no `probes` (read as ok); the reason is kept only while impaired, so a stale reason
 * never outlives the state it explained.
 */
function probesOf(message: { probes?: ProbesState; impaired?: string | null }): Pick<FeedState, 'probes' | 'impaired'> {
  const probes = message.probes ?? 'ok';
  const why = probes === 'impaired' && typeof message.impaired === 'string' ? message.impaired.trim() : '';
  return { probes, impaired: why === '' ? null : why };
}

/** True when nothing in sequence has arrived for two heartbeat intervals. */
export function isSilent(state: FeedState, now: number): boolean {
  const since = Math.max(state.lastMessageAt ?? -Infinity, state.openedAt ?? -Infinity);
  return now - since > 2 * state.heartbeatMs;
}

/**
 * What to tell the operator. With data on screen: `live` only while the socket is open, in
 * sequence and heard from within two heartbeats; `stale` while it is silent, resyncing or
 * reconnecting; `offline` once a reconnect attempt has failed. Without data: `connecting`
 * until an attempt fails, then `offline`.
 */
export function connectionState(state: FeedState, link: Link, now: number): ConnectionState {
  if (state.practices === null) {
    if (link.lastAttemptFailed) return 'offline';
    return 'connecting';
  }
  if (link.phase !== 'open') return link.lastAttemptFailed ? 'offline' : 'stale';
  if (state.awaitingSnapshot) return 'stale';
  if (state.lastMessageAt === null || now - state.lastMessageAt > 2 * state.heartbeatMs) return 'stale';
  return 'live';
}

/** True when the open socket should be dropped and reopened: silent, or a snapshot never came. */
export function shouldReconnect(state: FeedState, link: Link, now: number): boolean {
  return link.phase === 'open' && isSilent(state, now);
}

export interface Backoff {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1_000, capMs: 30_000 };

/**
 * Delay before reconnect attempt `attempt` (0 = first): capped exponential with "equal
 * jitter" (half fixed, half random), so a server restart is not met by every wall display
 * at the same instant, and no attempt is ever immediate. `random` is in [0, 1).
 */
export function reconnectDelay(attempt: number, random: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/**
 * The one edge where text from the socket becomes a typed message. A message that is not
 * one we know is dropped (returns null); if it carried a seq, the next one shows a gap and
 * the feed resyncs, so a bad frame costs one snapshot, never a wrong screen.
 */
export function parseServerMessage(text: string): LiveServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  switch (value.type) {
    case 'hello':
      return typeof value.protocol === 'number' && isPositive(value.heartbeatMs)
        ? (value as LiveServerMessage)
        : null;
    case 'heartbeat':
      return isSeq(value.seq) && typeof value.at === 'string' ? (value as LiveServerMessage) : null;
    case 'snapshot':
    case 'delta': {
      // A server from before incidents sends none: read that as "no incidents", not a bad frame.
      const incidents = value.incidents ?? [];
      return isSeq(value.seq) &&
        typeof value.at === 'string' &&
        Array.isArray(value.practices) &&
        Array.isArray(value.services) &&
        isObject(value.counts) &&
        Array.isArray(incidents)
        ? ({ ...value, incidents } as LiveServerMessage)
        : null;
    }
    default:
      return null;
  }
}

function byKey<T>(items: readonly T[], key: (item: T) => string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const item of items) out[key(item)] = item;
  return out;
}

function merge<T>(current: Readonly<Record<string, T>>, changed: readonly T[], key: (item: T) => string): Record<string, T> {
  if (changed.length === 0) return current as Record<string, T>;
  const out: Record<string, T> = { ...current };
  for (const item of changed) out[key(item)] = item;
  return out;
}

/** Upserts incidents by id; one that is resolved leaves the open list. */
function mergeIncidents(
  current: Readonly<Record<number, IncidentView>>,
  changed: readonly IncidentView[],
): Readonly<Record<number, IncidentView>> {
  if (changed.length === 0) return current;
  const out: Record<number, IncidentView> = { ...current };
  for (const incident of changed) {
    if (incident.status === 'resolved') delete out[incident.id];
    else out[incident.id] = incident;
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}
