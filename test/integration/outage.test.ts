// The whole path, real parts only: simulator → probe worker process → server → API,
// WebSocket and metrics. Intervals are short so an outage is confirmed in about a second.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LiveServerMessage, PracticeView } from '../../server/live/protocol';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

let sim: Simulator;
let pulse: RunningPulse;
let stack: Stack;
let session: SignedIn;

async function practices(): Promise<PracticeView[]> {
  const res = await session.fetch(`/api/practices`);
  return ((await res.json()) as { practices: PracticeView[] }).practices;
}

beforeAll(async () => {
  stack = await startStack({ seed: 7 });
  ({ sim, pulse } = stack);
  session = await signIn(pulse.url, pulse.store.accounts);
  await waitFor('every practice to be up', async () => (await practices()).every((p) => p.status === 'up'));
});

afterAll(async () => {
  await stack?.stop();
});

describe('an EMIS Web outage, end to end', () => {
  it('lists at least 60 practices across the three clinical systems, all up', async () => {
    const list = await practices();
    expect(list.length).toBeGreaterThanOrEqual(60);
    expect(new Set(list.map((p) => p.system))).toEqual(new Set(['emis-web', 'systmone', 'vision']));
    expect(list[0]).toMatchObject({ mode: 'normal', cause: null });
    expect(Object.keys(list[0]!).sort()).toEqual(['cause', 'icb', 'mode', 'name', 'ods', 'pcn', 'since', 'status', 'system']);
  });

  it('turns every EMIS practice down with cause upstream: emis-web, live and in the API, then back up', async () => {
    const ws = new WebSocket(`${pulse.url.replace('http', 'ws')}/ws`, { headers: { cookie: session.cookie, origin: pulse.url } });
    const messages: LiveServerMessage[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as LiveServerMessage));
    await waitFor('a snapshot', () => messages.some((m) => m.type === 'snapshot'));
    expect(messages[0]).toMatchObject({ type: 'hello', protocol: 1, heartbeatMs: 1_000 });

    const emis = sim.practices.filter((p) => p.system === 'emis-web').map((p) => p.ods);
    sim.play('emis-web-outage', { durationMs: 60_000 });

    const down = await waitFor('EMIS practices down', async () => {
      const list = await practices();
      const emisDown = list.filter((p) => p.system === 'emis-web' && p.status === 'down');
      return emisDown.length === emis.length ? list : null;
    });
    for (const p of down) {
      if (p.system === 'emis-web') expect(p.cause).toBe('upstream: emis-web');
      else expect(p.status).toBe('up');
    }

    // The same change reached the dashboard feed as deltas, in sequence.
    const deltas = messages.filter((m): m is Extract<LiveServerMessage, { type: 'delta' }> => m.type === 'delta');
    const sentDown = new Set(deltas.flatMap((d) => d.practices.filter((p) => p.status === 'down').map((p) => p.ods)));
    expect([...sentDown].sort()).toEqual([...emis].sort());
    const seqs = messages.filter((m) => m.type !== 'hello').map((m) => (m as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const lastDelta = deltas.at(-1)!;
    expect(lastDelta.counts.down).toBe(emis.length);
    expect(lastDelta.services.find((s) => s.id === 'emis-web')).toMatchObject({ status: 'down', practicesAffected: emis.length });

    // Metrics agree.
    const metrics = await (await session.fetch(`/metrics`)).text();
    expect(metrics).toContain(`pulse_practices{status="down"} ${emis.length}`);
    expect(metrics).toContain('pulse_service_status{service="emis-web",status="down"} 1');
    expect(metrics).toMatch(/^pulse_incidents_open\{kind="service"\} [1-9]/m);
    expect(metrics).toContain(`pulse_practice_status{ods="${emis[0]}",`);

    // The transition was stored.
    const detail = (await (await session.fetch(`/api/practices/${emis[0]}`)).json()) as { history: { to: string }[] };
    expect(detail.history[0]!.to).toBe('down');

    sim.restoreAll();
    await waitFor('every practice back up', async () => (await practices()).every((p) => p.status === 'up'));
    ws.close();
  });
});

describe('API and protocol edges', () => {
  it('answers /healthz', async () => {
    const res = await session.fetch(`/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves valid Prometheus text with process metrics', async () => {
    const res = await session.fetch(`/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE pulse_practices gauge');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toMatch(/pulse_check_results_total\{kind="http",result="ok"\} \d+/);
    expect(text).toMatch(/pulse_worker_connections\{location="local"\} 1/);
    // A real worker's results feed the per-check series and the dead-man's switch.
    expect(text).toMatch(/^pulse_check_success\{check="[^"]+",kind="http",subject="practice:[A-Z]\d{5}"\} 1$/m);
    expect(text).toMatch(/^pulse_check_duration_seconds\{check="[^"]+",kind="http"\} [\d.e-]+$/m);
    const last = Number(/^pulse_last_result_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    expect(Date.now() / 1000 - last).toBeLessThan(30);
  });

  it('says clearly what is wrong with a bad ODS code or an unknown practice', async () => {
    const bad = await session.fetch(`/api/practices/not-a-code`);
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.message).toContain('ods: expected an ODS practice code');
    const missing = await session.fetch(`/api/practices/Z99999`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no practice with ODS code Z99999' } });
  });

  it('lists services with the practices each is taking down', async () => {
    const body = (await (await session.fetch(`/api/services`)).json()) as { services: { id: string; checks: unknown[] }[] };
    expect(body.services.map((s) => s.id)).toEqual(expect.arrayContaining(['emis-web', 'systmone', 'vision', 'spine', 'hscn']));
  });

  it('refuses a probe worker with the wrong token', async () => {
    const ws = new WebSocket(`${pulse.url.replace('http', 'ws')}/workers`, { headers: { Authorization: 'Bearer wrong' } });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(status).toBe(401);
  });

  it('resends a snapshot when a dashboard asks to resync', async () => {
    const ws = new WebSocket(`${pulse.url.replace('http', 'ws')}/ws`, { headers: { cookie: session.cookie, origin: pulse.url } });
    const messages: LiveServerMessage[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as LiveServerMessage));
    await waitFor('a snapshot', () => messages.some((m) => m.type === 'snapshot'));
    ws.send(JSON.stringify({ type: 'resync' }));
    ws.send('not json at all');
    await waitFor('a second snapshot', () => messages.filter((m) => m.type === 'snapshot').length === 2);
    const snapshots = messages.filter((m) => m.type === 'snapshot') as Extract<LiveServerMessage, { type: 'snapshot' }>[];
    expect(snapshots[1]!.seq).toBeGreaterThan(snapshots[0]!.seq);
    expect(snapshots[1]!.practices.length).toBeGreaterThanOrEqual(60);
    ws.close();
  });
});
