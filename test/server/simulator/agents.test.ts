// Simulated workstation agents: real heartbeats over HTTP to a stand-in receiver, counted
// per practice; silenced and brought back by bad-endpoint-update on the injected clock.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHeartbeat } from '../../../server/fleet';
import {
  BAD_CHANNEL_FILE,
  BAD_CHANNEL_FILE_HEALTHY_SHARE,
  BAD_UPDATE_SILENT_AGENTS,
  GOOD_CHANNEL_FILE,
  startSimulator,
  type AgentsReport,
  type Simulator,
} from '../../../server/simulator';
import { FakeClock, get } from './helpers';
import { waitFor } from '../../helpers/wait';

const TOKEN = 'sim-agent-token-0123456789abcdef';

interface Beat {
  ods: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** A tiny stand-in for Pulse's POST /api/heartbeats/:ods: records every beat, answers `status`. */
class Receiver {
  beats: Beat[] = [];
  status = 202;
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        const match = /^\/api\/heartbeats\/([A-Z]\d{5})$/.exec(req.url ?? '');
        if (req.method === 'POST' && match) {
          this.beats.push({ ods: match[1]!, authorization: req.headers.authorization, body: JSON.parse(text) as Record<string, unknown> });
        }
        res.writeHead(match ? this.status : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted: true }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Beats per practice since the last call (then forgets them). */
  take(): Map<string, Beat[]> {
    const out = new Map<string, Beat[]>();
    for (const beat of this.beats) out.set(beat.ods, [...(out.get(beat.ods) ?? []), beat]);
    this.beats = [];
    return out;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let sim: Simulator | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await sim?.close();
  await receiver?.close();
  sim = undefined;
  receiver = undefined;
});

const byOds = (report: AgentsReport) => new Map(report.practices.map((p) => [p.ods, p]));

describe('simulated workstation agents', () => {
  it('POST real heartbeats to Pulse with the bearer token, once per agent per interval, counted per practice', async () => {
    const clock = new FakeClock();
    receiver = await new Receiver().start();
    sim = await startSimulator({ practices: 24, seed: 3, clock });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000 });

    const report = sim.agents();
    expect(report).toMatchObject({ running: true, pulseUrl: receiver.url, intervalMs: 1_000 });
    // A deterministic ~50% of practices, each with 8-40 agents.
    expect(report.practices).toHaveLength(12);
    for (const p of report.practices) {
      expect(p.agents).toBeGreaterThanOrEqual(8);
      expect(p.agents).toBeLessThanOrEqual(40);
    }
    expect(new Set(report.practices.map((p) => p.agents)).size).toBeGreaterThan(1);

    // Nothing is sent before the clock moves: every agent waits for its own phase.
    await sim.settled();
    expect(receiver.beats).toHaveLength(0);

    for (let round = 0; round < 3; round++) {
      clock.advance(round === 0 ? 999 : 1_000);
      await sim.settled();
      const beats = receiver.take();
      expect([...beats.keys()].sort()).toEqual(report.practices.map((p) => p.ods).sort());
      for (const p of report.practices) {
        const got = beats.get(p.ods)!;
        expect(got).toHaveLength(p.agents);
        expect(new Set(got.map((b) => b.body.agent)).size).toBe(p.agents);
        for (const beat of got) {
          expect(beat.authorization).toBe(`Bearer ${TOKEN}`);
          expect(Object.keys(beat.body).sort()).toEqual(['agent', 'hostname', 'sentAt', 'software', 'version']);
          expect(parseHeartbeat(beat.body).ok).toBe(true);
          expect(String(beat.body.agent).startsWith(`${p.ods}-`)).toBe(true);
        }
      }
    }
    const after = sim.agents();
    for (const p of after.practices) expect(p).toMatchObject({ sent: 3 * p.agents, failed: 0, silent: 0, lastError: null });
    expect(after.totals.sent).toBe(3 * after.totals.agents);

    await sim.stopAgents();
    expect(sim.agents().running).toBe(false);
    clock.advance(5_000);
    await sim.settled();
    expect(receiver.beats).toHaveLength(0);
    expect(clock.pending).toBe(0);
  });

  it('beats on the real clock too, spread over the interval', async () => {
    receiver = await new Receiver().start();
    sim = await startSimulator({ practices: 6, seed: 4 });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 200, agentsPerPractice: [3, 5] });
    const total = sim.agents().totals.agents;
    await waitFor('every agent to beat twice', () => sim!.agents().totals.sent >= 2 * total);
    const agents = new Set(receiver.beats.map((b) => b.body.agent));
    expect(agents.size).toBe(total);
  });

  it('each agent reports the same bounded software map in every beat, and none when asked not to', async () => {
    const clock = new FakeClock();
    receiver = await new Receiver().start();
    sim = await startSimulator({ practices: 12, seed: 5, clock });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, agentsPerPractice: [4, 6] });
    const softwareOf = () => {
      const out = new Map<string, unknown>();
      for (const beat of [...receiver!.take().values()].flat()) out.set(String(beat.body.agent), beat.body.software);
      return out;
    };
    clock.advance(999);
    await sim.settled();
    const first = softwareOf();
    expect(first.size).toBe(sim.agents().totals.agents);
    for (const software of first.values()) {
      const map = software as Record<string, string>;
      expect(Object.keys(map).sort()).toEqual(['channel-file', 'falcon-sensor', 'os']);
      for (const value of Object.values(map)) expect(value).toMatch(/^[\x21-\x7e]{1,32}$/);
      expect([BAD_CHANNEL_FILE, GOOD_CHANNEL_FILE]).toContain(map['channel-file']);
    }
    // Not every agent runs the same thing.
    expect(new Set([...first.values()].map((s) => JSON.stringify(s))).size).toBeGreaterThan(1);
    clock.advance(1_000);
    await sim.settled();
    expect(softwareOf()).toEqual(first);

    // The same seed: the same versions on the same agents.
    await sim.close();
    sim = await startSimulator({ practices: 12, seed: 5, clock });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, agentsPerPractice: [4, 6] });
    clock.advance(999);
    await sim.settled();
    expect(softwareOf()).toEqual(first);

    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, agentsPerPractice: [4, 6], software: false });
    clock.advance(999);
    await sim.settled();
    const bare = [...receiver.take().values()].flat();
    expect(bare.length).toBeGreaterThan(0);
    for (const beat of bare) expect(beat.body).not.toHaveProperty('software');
  });

  it('counts failures to reach Pulse, never throws, and names the reason', async () => {
    const clock = new FakeClock();
    receiver = await new Receiver().start();
    receiver.status = 401;
    sim = await startSimulator({ practices: 12, seed: 2, clock });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, agentsPerPractice: [2, 2] });
    clock.advance(999);
    await sim.settled();
    for (const p of sim.agents().practices) expect(p).toMatchObject({ sent: 0, failed: 2, lastError: 'HTTP 401' });

    // Nothing listening at all: refused connections are counted the same way.
    const closedUrl = receiver.url;
    await receiver.close();
    receiver = undefined;
    sim.startAgents({ pulseUrl: closedUrl, token: TOKEN, intervalMs: 1_000, agentsPerPractice: [2, 2] });
    clock.advance(999);
    await sim.settled();
    for (const p of sim.agents().practices) expect(p).toMatchObject({ sent: 0, failed: 2, lastError: 'ECONNREFUSED' });
  });

  it('refuses bad options by name, and a Pulse that is not on loopback', async () => {
    sim = await startSimulator({ practices: 12 });
    expect(() => sim!.startAgents({ pulseUrl: 'http://10.0.0.1:8080', token: TOKEN })).toThrow(/pulseUrl/);
    expect(() => sim!.startAgents({ pulseUrl: 'http://127.0.0.1:1', token: '' })).toThrow(/token/);
    expect(() => sim!.startAgents({ pulseUrl: 'http://127.0.0.1:1', token: TOKEN, agentsPerPractice: [9, 3] })).toThrow(/agentsPerPractice/);
    expect(() => sim!.startAgents({ pulseUrl: 'http://127.0.0.1:1', token: TOKEN, practices: ['Z99999'] })).toThrow(/Z99999/);
    expect(sim.agents().running).toBe(false);
  });

  it('bad-endpoint-update silences ~70% of each hit practice\u2019s agents (seeded) and restoring brings them back', async () => {
    const clock = new FakeClock();
    receiver = await new Receiver().start();
    sim = await startSimulator({ practices: 20, seed: 9, clock });
    const all = sim.practices.map((p) => p.ods);
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, practices: all, agentsPerPractice: [10, 30] });
    const counts = new Map(sim.agents().practices.map((p) => [p.ods, p.agents]));
    clock.advance(999);
    await sim.settled();
    const before = receiver.take();

    await sim.play('bad-endpoint-update', { durationMs: 10_000 });
    const hit = new Set(Object.keys(sim.faults()).map((t) => t.slice('practice:'.length)));
    expect(hit.size).toBe(14);
    const report = byOds(sim.agents());
    for (const ods of all) {
      const expected = hit.has(ods) ? Math.round(counts.get(ods)! * BAD_UPDATE_SILENT_AGENTS) : 0;
      expect(report.get(ods)!.silent).toBe(expected);
    }

    clock.advance(1_000);
    await sim.settled();
    const during = receiver.take();
    const silentAgents = new Set<string>();
    for (const ods of all) {
      const heard = new Set((during.get(ods) ?? []).map((b) => String(b.body.agent)));
      expect(heard.size).toBe(counts.get(ods)! - report.get(ods)!.silent);
      for (let i = 1; i <= counts.get(ods)!; i++) {
        const id = `${ods}-WS${String(i).padStart(2, '0')}`;
        if (!heard.has(id)) silentAgents.add(id);
      }
    }
    expect(sim.agents().totals.failed).toBe(0);

    // Every agent it silenced had reported the bad channel file; few of the others did.
    const channelFile = new Map<string, string>();
    for (const beat of [...before.values()].flat()) {
      channelFile.set(String(beat.body.agent), (beat.body.software as Record<string, string>)['channel-file']!);
    }
    expect(channelFile.size).toBe([...counts.values()].reduce((a, b) => a + b, 0));
    const healthy = [...channelFile.keys()].filter((id) => !silentAgents.has(id));
    const healthyBad = healthy.filter((id) => channelFile.get(id) === BAD_CHANNEL_FILE).length;
    expect([...silentAgents].every((id) => channelFile.get(id) === BAD_CHANNEL_FILE)).toBe(true);
    expect(healthyBad).toBeGreaterThan(0);
    expect(healthyBad / healthy.length).toBeLessThan(2 * BAD_CHANNEL_FILE_HEALTHY_SHARE);

    // The scenario ends on the clock: every agent beats again.
    clock.advance(9_000);
    await sim.settled();
    expect(sim.agents().totals.silent).toBe(0);
    receiver.take();
    clock.advance(1_000);
    await sim.settled();
    const after = receiver.take();
    for (const ods of all) expect(after.get(ods)).toHaveLength(counts.get(ods)!);

    // The same seed silences the same agents; restoreAll brings them back at once.
    await sim.close();
    sim = await startSimulator({ practices: 20, seed: 9, clock });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, practices: all, agentsPerPractice: [10, 30] });
    await sim.play('bad-endpoint-update');
    clock.advance(999);
    await sim.settled();
    const heardAgain = new Set([...receiver.take().values()].flat().map((b) => String(b.body.agent)));
    const silentAgain = new Set<string>();
    for (const ods of all) {
      for (let i = 1; i <= counts.get(ods)!; i++) {
        const id = `${ods}-WS${String(i).padStart(2, '0')}`;
        if (!heardAgain.has(id)) silentAgain.add(id);
      }
    }
    expect(silentAgain).toEqual(silentAgents);
    await sim.restoreAll();
    expect(sim.agents().totals.silent).toBe(0);
    clock.advance(1_000);
    await sim.settled();
    for (const [ods, got] of receiver.take()) expect(got).toHaveLength(counts.get(ods)!);
    expect(silentAgents.size).toBeGreaterThan(0);
  });

  it('restoring a practice brings its agents back; GET /agents reports agents, silent, sent and failed', async () => {
    const clock = new FakeClock();
    receiver = await new Receiver().start();
    sim = await startSimulator({ practices: 20, seed: 9, clock });
    sim.startAgents({ pulseUrl: receiver.url, token: TOKEN, intervalMs: 1_000, practices: sim.practices.map((p) => p.ods) });
    await sim.play('bad-endpoint-update');
    const target = Object.keys(sim.faults())[0]!;
    const ods = target.slice('practice:'.length);
    expect(byOds(sim.agents()).get(ods)!.silent).toBeGreaterThan(0);
    await sim.restore(target);
    expect(byOds(sim.agents()).get(ods)!.silent).toBe(0);

    clock.advance(999);
    await sim.settled();
    const res = await get(`${sim.controlUrl}/agents`);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as AgentsReport;
    expect(body.running).toBe(true);
    expect(res.body).not.toContain(TOKEN);
    const row = body.practices.find((p) => p.ods === ods)!;
    expect(row).toEqual({ ods, agents: row.agents, silent: 0, sent: row.agents, failed: 0, lastError: null });
    const other = body.practices.find((p) => p.silent > 0)!;
    expect(other.sent).toBe(other.agents - other.silent);
  });
});
