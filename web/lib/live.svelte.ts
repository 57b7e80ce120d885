// The dashboard's one live connection to /ws and the state it holds, as Svelte 5 runes.
// Effects only (socket, one timer, one pending retry): every decision is in ./feed.ts.
// Components read this object; they never open sockets or compute a status.
//
// Timers: one interval for the whole life of the feed (clock + watchdog), at most one
// pending reconnect timeout, and handlers that ignore any socket but the current one, so
// reconnects never stack timers or double-schedule. close() clears all of them.
import type { Counts, IncidentView, LiveClientMessage, PracticeView, ProbesState, ServiceView } from '../../server/live/protocol';
import {
  connected,
  connectionState,
  initialFeed,
  parseServerMessage,
  reconnectDelay,
  reduce,
  shouldReconnect,
  DEFAULT_BACKOFF,
  type Backoff,
  type ConnectionState,
  type FeedState,
  type Link,
} from './feed';

export interface LiveFeedOptions {
  /** e.g. `wss://pulse.example.nhs.uk/ws`. */
  url: string;
  /** Injected for tests; the browser's by default. */
  WebSocket?: typeof WebSocket;
  now?: () => number;
  random?: () => number;
  backoff?: Backoff;
  /** How often the clock and watchdog run. */
  tickMs?: number;
  /**
   * Called when an attempt closes without ever opening. The browser hides why (a refused
   * sign-in and a server that is down look the same), so the caller asks the server.
   */
  onAttemptFailed?: () => void;
}

export class LiveFeed {
  #feed = $state.raw<FeedState>(initialFeed());
  #link = $state.raw<Link>({ phase: 'closed', lastAttemptFailed: false });
  #now = $state(0);

  readonly #options: Required<LiveFeedOptions>;
  #socket: WebSocket | null = null;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #ticker: ReturnType<typeof setInterval> | null = null;
  #attempt = 0;
  #running = false;

  /** connecting | live | stale | offline: see `connectionState` in ./feed. */
  readonly connection: ConnectionState = $derived(connectionState(this.#feed, this.#link, this.#now));

  constructor(options: LiveFeedOptions) {
    this.#options = {
      WebSocket: globalThis.WebSocket,
      now: Date.now,
      random: Math.random,
      backoff: DEFAULT_BACKOFF,
      tickMs: 1_000,
      onAttemptFailed: () => {},
      ...options,
    };
    this.#now = this.#options.now();
  }

  /** Keyed by ODS code; null until the first snapshot ever arrives. */
  get practices(): Readonly<Record<string, PracticeView>> | null {
    return this.#feed.practices;
  }
  /** Keyed by service id. */
  get services(): Readonly<Record<string, ServiceView>> {
    return this.#feed.services;
  }
  get counts(): Counts | null {
    return this.#feed.counts;
  }
  /** Open incidents, keyed by id. */
  get incidents(): Readonly<Record<number, IncidentView>> {
    return this.#feed.incidents;
  }
  /**
   * Whether Pulse's own probes are reporting (`quiet`: every status is going stale) and can
   * see (`impaired`: what Pulse could not judge is shown unknown; see `impaired` for why).
   */
  get probes(): ProbesState {
    return this.#feed.probes;
  }
  /** While `probes` is `impaired`: why, in the server's plain words; else null. */
  get impaired(): string | null {
    return this.#feed.impaired;
  }
  /** Client clock (ms) of the last in-sequence message. */
  get lastMessageAt(): number | null {
    return this.#feed.lastMessageAt;
  }
  /** Server time (ISO) the data was last confirmed current. */
  get lastUpdateAt(): string | null {
    return this.#feed.lastUpdateAt;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#ticker = setInterval(() => this.#tick(), this.#options.tickMs);
    this.#connect();
  }

  close(): void {
    this.#running = false;
    if (this.#ticker !== null) clearInterval(this.#ticker);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#ticker = null;
    this.#retry = null;
    this.#drop();
    this.#link = { phase: 'closed', lastAttemptFailed: false };
  }

  #connect(): void {
    this.#retry = null;
    if (!this.#running) return;
    const { now } = this.#options;
    let opened = false;
    let ws: WebSocket;
    try {
      ws = new this.#options.WebSocket(this.#options.url);
    } catch {
      this.#link = { phase: 'closed', lastAttemptFailed: true };
      this.#scheduleReconnect();
      return;
    }
    this.#socket = ws;
    this.#link = { phase: 'connecting', lastAttemptFailed: this.#link.lastAttemptFailed };

    ws.onopen = () => {
      if (ws !== this.#socket) return;
      opened = true;
      this.#now = now();
      this.#feed = connected(this.#feed, this.#now);
      this.#link = { phase: 'open', lastAttemptFailed: false };
    };
    ws.onmessage = (event: MessageEvent) => {
      if (ws !== this.#socket || typeof event.data !== 'string') return;
      const message = parseServerMessage(event.data);
      if (message === null) return;
      this.#now = now();
      const step = reduce(this.#feed, message, this.#now);
      this.#feed = step.state;
      if (message.type === 'snapshot') this.#attempt = 0;
      if (step.action === 'resync' && ws.readyState === ws.OPEN) {
        const resync: LiveClientMessage = { type: 'resync' };
        ws.send(JSON.stringify(resync));
      }
    };
    // An error is always followed by close; reconnecting is decided there, once.
    ws.onerror = () => {};
    ws.onclose = () => {
      if (ws !== this.#socket) return;
      this.#socket = null;
      this.#link = { phase: 'closed', lastAttemptFailed: !opened };
      this.#scheduleReconnect();
      if (!opened) this.#options.onAttemptFailed();
    };
  }

  #tick(): void {
    this.#now = this.#options.now();
    if (shouldReconnect(this.#feed, this.#link, this.#now)) {
      // Silent for two heartbeats, or a requested snapshot never came: the socket is likely
      // half-open. A fresh connection always starts with a snapshot.
      this.#drop();
      this.#link = { phase: 'closed', lastAttemptFailed: false };
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (!this.#running || this.#retry !== null) return;
    const delay = reconnectDelay(this.#attempt, this.#options.random(), this.#options.backoff);
    this.#attempt += 1;
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  /** Forgets the current socket first, so its late events are ignored, then closes it. */
  #drop(): void {
    const ws = this.#socket;
    this.#socket = null;
    if (ws === null) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close();
    } catch {
      // Closing a socket that never opened may throw in some engines; it is gone either way.
    }
  }
}
