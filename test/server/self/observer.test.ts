import { describe, expect, it } from 'vitest';
import { ServerObserver, spokenDuration, type EventLoopDelaySource } from '../../../server/self/observer';

const START = 1_721_362_140_000; // Fri 19 July 2024, 04:09 UTC
const TICK = 250;

/** Both clocks, moved by hand: `run` advances them together (the process running), `pause` only the wall (a SIGSTOP as the process sees it after SIGCONT: both jumped). */
function clocks() {
  let wall = START;
  let mono = 1_000;
  return {
    wall: () => wall,
    mono: () => mono,
    /** Time passes with the process running (or stopped: both clocks move either way). */
    advance(ms: number) {
      wall += ms;
      mono += ms;
    },
    /** The wall clock alone is stepped (NTP, an operator). */
    stepWall(ms: number) {
      wall += ms;
    },
  };
}

/** A fake event-loop delay source: the test sets the p99. */
function fakeEventLoop() {
  let p99 = 0;
  let rotations = 0;
  const source: EventLoopDelaySource = { rotate: () => void rotations++, p99Ms: () => p99, close: () => {} };
  return { source, set: (ms: number) => (p99 = ms), rotations: () => rotations };
}

function setup(opts: { settleMs?: number; eventLoop?: EventLoopDelaySource | null } = {}) {
  const c = clocks();
  const observer = new ServerObserver({ tickMs: TICK, monoNow: c.mono, eventLoop: opts.eventLoop ?? null, ...(opts.settleMs ? { settleMs: opts.settleMs } : {}) });
  const tick = () => observer.tick(c.wall(), c.mono());
  /** Ticks every TICK ms for `ms`. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += TICK) {
      c.advance(TICK);
      tick();
    }
  };
  return { c, observer, tick, run };
}

describe('ServerObserver: stalls', () => {
  it('a 40 s gap between ticks is a stall, and listened time excludes it', () => {
    const { c, observer, tick, run } = setup();
    tick();
    run(10_000);
    const before = c.wall();
    c.advance(40_000); // SIGSTOP … SIGCONT
    expect(tick()).toEqual([{ kind: 'stall', ms: 40_000, text: 'the server stalled for 40 s' }]);
    run(5_000);
    expect(observer.stalls).toBe(1);
    expect(observer.unobserved(START, c.wall())).toEqual([{ from: before, to: before + 40_000 }]);
    // 10 s before, 40 s not listening, 5 s after.
    expect(observer.listenedMs(START, c.wall())).toBe(15_000);
    expect(observer.listenedMs(before + 10_000, before + 20_000)).toBe(0);
    expect(observer.listenedMs(before - 1_000, before + 40_000 + 1_000)).toBe(2_000);
  });

  it('the stall’s own huge event-loop delay does not also mark the time after it unheard', () => {
    // The histogram sees a 40 s pause as one 40 s delay; until it is cleared it would read as
    // "overloaded" and keep the fleets from hearing the beats that arrive after the resume.
    const loop = fakeEventLoop();
    const { c, observer, tick, run } = setup({ eventLoop: loop.source });
    tick();
    run(5_000);
    c.advance(40_000);
    loop.set(40_000);
    tick();
    const resumed = c.wall();
    run(4_000);
    loop.set(0); // the real source reads fresh once rotated
    run(20_000);
    expect(observer.listenedMs(resumed, c.wall())).toBe(c.wall() - resumed);
    expect(observer.impaired()).toBeNull();
  });

  it('ticks on time are no stall: every moment is listened', () => {
    const { c, observer, tick, run } = setup();
    tick();
    run(60_000);
    expect(observer.stalls).toBe(0);
    expect(observer.listenedMs(START, c.wall())).toBe(60_000);
    expect(observer.impaired()).toBeNull();
  });

  it('counts a gap just over the threshold (max(1 s, 4 × tick)) as a stall, and one at it as none', () => {
    const { c, observer, tick } = setup();
    tick();
    c.advance(1_000);
    expect(tick()).toEqual([]);
    c.advance(1_001);
    expect(tick().map((e) => e.kind)).toEqual(['stall']);
    expect(observer.stalls).toBe(1);
  });

  it('stays impaired after a stall until it has listened for the settle period, then clears', () => {
    const { observer, tick, run, c } = setup({ settleMs: 30_000 });
    tick();
    run(1_000);
    c.advance(40_000);
    tick();
    expect(observer.impaired()).toBe('the server stalled for 40 s');
    run(29_750);
    expect(observer.impaired()).toBe('the server stalled for 40 s');
    run(250);
    expect(observer.impaired()).toBeNull();
  });

  it('a later stall does not count as listening towards an earlier one’s settle period; the longest held is named', () => {
    const { observer, tick, run, c } = setup({ settleMs: 30_000 });
    tick();
    c.advance(40_000);
    tick();
    run(20_000);
    c.advance(5_000);
    tick();
    run(9_000); // 29 s listened since the first stall ended
    expect(observer.impaired()).toBe('the server stalled for 40 s');
    run(1_000);
    // The first is settled; the 5 s one still holds.
    expect(observer.impaired()).toBe('the server stalled for 5.0 s');
    run(20_000);
    expect(observer.impaired()).toBeNull();
  });
});

describe('ServerObserver: the wall clock against the monotonic clock', () => {
  it('reports a forward jump and treats the skipped wall time as not listened', () => {
    const { observer, tick, run, c } = setup();
    tick();
    run(1_000);
    const before = c.wall();
    c.stepWall(3_600_000);
    c.advance(TICK);
    expect(tick()).toEqual([{ kind: 'wall-jump', ms: 3_600_000, text: 'the wall clock jumped forward 1 h' }]);
    // A beat stamped before the jump is not an hour of silence.
    expect(observer.listenedMs(before, c.wall())).toBe(0);
    expect(observer.stalls).toBe(0);
    expect(observer.impaired()).toBeNull();
  });

  it('reports a backward jump and records nothing as not listened', () => {
    const { observer, tick, run, c } = setup();
    tick();
    run(1_000);
    c.stepWall(-120_000);
    c.advance(TICK);
    expect(tick()).toEqual([{ kind: 'wall-jump', ms: -120_000, text: 'the wall clock jumped back 2 min' }]);
    expect(observer.health()).toMatchObject({ wallJumps: 1, unobservedMs: 0 });
  });

  it('ignores drift under a second', () => {
    const { observer, tick, c } = setup();
    tick();
    c.stepWall(900);
    c.advance(TICK);
    expect(tick()).toEqual([]);
    expect(observer.health().wallJumps).toBe(0);
  });
});

describe('ServerObserver: event-loop delay', () => {
  it('is impaired while the p99 is at or past 1 s, and that time is not listened', () => {
    const loop = fakeEventLoop();
    const { observer, run, tick, c } = setup({ eventLoop: loop.source });
    tick();
    run(2_000);
    loop.set(1_200);
    const from = c.wall();
    run(3_000);
    expect(observer.impaired()).toBe("the server's event loop is 1.2 s behind");
    expect(observer.health().eventLoopDelayMs).toBe(1_200);
    expect(observer.listenedMs(from, c.wall())).toBe(0);
    loop.set(20);
    run(1_000);
    expect(observer.impaired()).toBeNull();
    expect(observer.listenedMs(c.wall() - 750, c.wall())).toBe(750);
  });

  it('rotates the window every windowMs', () => {
    const loop = fakeEventLoop();
    const { tick, run } = setup({ eventLoop: loop.source });
    tick();
    run(10_000);
    expect(loop.rotations()).toBe(2);
  });
});

describe('ServerObserver: heartbeat intake', () => {
  it('is behind by its oldest unfinished request', () => {
    const { observer, tick, run } = setup();
    tick();
    const done = observer.intakeStart();
    run(1_000);
    expect(observer.health()).toMatchObject({ intakeInFlight: 1, intakeBehindMs: 1_000 });
    expect(observer.impaired()).toBeNull();
    run(2_250);
    expect(observer.impaired()).toBe('heartbeat intake is 3.3 s behind');
    done();
    done(); // idempotent
    expect(observer.health().intakeInFlight).toBe(0);
  });

  it('remembers a slow request for a window or two after it finished, then forgets it', () => {
    const { observer, tick, run } = setup();
    tick();
    const done = observer.intakeStart();
    run(3_000);
    done();
    expect(observer.impaired()).toBe('heartbeat intake is 3.0 s behind');
    run(10_250);
    expect(observer.impaired()).toBeNull();
    expect(observer.health().intakeBehindMs).toBe(0);
  });

  it('fast requests are no backlog', () => {
    const { observer, tick, c } = setup();
    tick();
    for (let i = 0; i < 100; i++) {
      const done = observer.intakeStart();
      c.advance(5);
      done();
    }
    expect(observer.health().intakeBehindMs).toBe(5);
    expect(observer.impaired()).toBeNull();
  });
});

describe('ServerObserver: bounded memory', () => {
  it('keeps at most maxIntervals unobserved intervals, and none older than keepMs', () => {
    const c = clocks();
    const observer = new ServerObserver({ tickMs: TICK, monoNow: c.mono, eventLoop: null, maxIntervals: 3, keepMs: 600_000 });
    observer.tick(c.wall(), c.mono());
    for (let i = 0; i < 10; i++) {
      c.advance(TICK);
      observer.tick(c.wall(), c.mono());
      c.advance(5_000);
      observer.tick(c.wall(), c.mono());
    }
    expect(observer.unobserved(START, c.wall())).toHaveLength(3);
    c.advance(TICK);
    observer.tick(c.wall(), c.mono());
    c.advance(700_000);
    observer.tick(c.wall(), c.mono()); // itself a stall: the only one kept, the others are past keepMs
    expect(observer.unobserved(START, c.wall())).toEqual([{ from: c.wall() - 700_000, to: c.wall() }]);
  });
});

describe('spokenDuration', () => {
  it.each([
    [1_234, '1.2 s'],
    [40_200, '40 s'],
    [180_000, '3 min'],
    [3_600_000, '1 h'],
    [5_400_000, '1.5 h'],
    [36_000_000, '10 h'],
  ])('%d ms → %s', (ms, text) => {
    expect(spokenDuration(ms)).toBe(text);
  });
});
