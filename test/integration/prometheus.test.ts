// What we ship for Prometheus and Grafana (docs/deploy/), against the real thing: promtool
// accepts the config and the rules and passes the rules' unit tests; a real Prometheus,
// started on loopback with the shipped rules, scrapes a running Pulse fed by the simulator
// and sees an EMIS Web outage arrive (every EMIS practice down, ServiceDown and
// ManyPracticesDown raised) and clear. The dashboard's queries run on that Prometheus too.
// Debian's `prometheus` package is installed when missing (test/helpers/prometheus.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadEstateFile } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse } from '../../server/main';
import { startSimulator, type Simulator } from '../../server/simulator';
import { ensurePrometheus, promtool, startPrometheus, type PromAlert, type RunningPrometheus } from '../helpers/prometheus';
import { waitFor } from '../helpers/wait';

const DEPLOY = fileURLToPath(new URL('../../docs/deploy/', import.meta.url));
const PROMETHEUS_YML = join(DEPLOY, 'prometheus.yml');
const ALERTS_YML = join(DEPLOY, 'alerts.yml');
const ALERTS_TEST_YML = join(DEPLOY, 'alerts.test.yml');
const DASHBOARD_JSON = join(DEPLOY, 'grafana-dashboard.json');

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  [key: string]: unknown;
}
interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: unknown;
  scrape_configs: ScrapeConfig[];
}

interface Target {
  expr: string;
  refId: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { type: string; name: string; query: unknown; datasource?: { uid: string } }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_JSON, 'utf8')) as Dashboard;
const dashboardTargets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const ruleExprs = (parse(readFileSync(ALERTS_YML, 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] }).groups.flatMap(
  (g) => g.rules.map((r) => ({ name: r.alert ?? r.record!, expr: String(r.expr) })),
);

/** A dashboard query as Grafana would send it, with the variables filled in. */
function asGrafanaSends(expr: string): string {
  return expr.replaceAll('$instance', '.+').replaceAll('$__rate_interval', '1m');
}

/** Metric names used in PromQL: Pulse's own and the Node.js/process defaults (not recorded series like icb:pulse_…:sum). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![\w:])((?:pulse|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

let sim: Simulator;
let pulse: RunningPulse;
let prometheus: RunningPrometheus | undefined;
let dir: string;

beforeAll(async () => {
  // Minutes only when the package is missing (CI installs it first; see .ci/run).
  await ensurePrometheus();
  sim = await startSimulator({ seed: 11 });
  dir = mkdtempSync(join(tmpdir(), 'pulse-prom-it-'));
  writeFileSync(join(dir, 'estate.yaml'), sim.estateYaml({ interval: '500ms', timeout: '400ms' }));
  pulse = await startPulse({
    estate: loadEstateFile(join(dir, 'estate.yaml')),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    localWorkers: 1,
    tickMs: 100,
    heartbeatMs: 1_000,
  });

  // The shipped config, pointed at this Pulse, scraping and evaluating every second, with
  // the shipped rules and no Alertmanager (none runs here).
  const config = parse(readFileSync(PROMETHEUS_YML, 'utf8')) as PrometheusConfig;
  const job = config.scrape_configs.find((c) => c.job_name === 'pulse');
  if (!job) throw new Error(`${PROMETHEUS_YML} has no scrape config with job_name: pulse`);
  const labels = job.static_configs?.[0]?.labels;
  const testConfig: PrometheusConfig = {
    global: { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [ALERTS_YML],
    scrape_configs: [
      {
        ...job,
        scrape_interval: '1s',
        scrape_timeout: '1s',
        static_configs: [{ targets: [`127.0.0.1:${pulse.port}`], ...(labels ? { labels } : {}) }],
      },
    ],
  };
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(testConfig));
  prometheus = await startPrometheus(configFile);
}, 300_000);

afterAll(async () => {
  await prometheus?.stop();
  await pulse?.stop();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function value(promql: string): Promise<number | null> {
  const result = await prometheus!.query(promql);
  return result.length === 1 ? result[0]!.value : null;
}

async function active(alertname: string): Promise<PromAlert[]> {
  return (await prometheus!.alerts()).filter((a) => a.labels.alertname === alertname);
}

describe('promtool on what we ship', () => {
  it('accepts docs/deploy/prometheus.yml (and the rule file it loads)', async () => {
    const r = await promtool(['check', 'config', PROMETHEUS_YML]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('accepts docs/deploy/alerts.yml', async () => {
    const r = await promtool(['check', 'rules', ALERTS_YML]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/WARNING/i);
  });

  it('passes the rules unit tests (PulseProbesStale, PracticeDown held back by ManyPracticesDown, PulseWorkerMissing, PulseDown)', async () => {
    const r = await promtool(['test', 'rules', ALERTS_TEST_YML]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('gives every alert a severity, a summary, a description and a runbook link', () => {
    const rules = (parse(readFileSync(ALERTS_YML, 'utf8')) as { groups: { rules: Record<string, unknown>[] }[] }).groups.flatMap((g) => g.rules);
    const alerts = rules.filter((r) => r.alert);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'PracticeDown',
        'ServiceDown',
        'ManyPracticesDown',
        'BackupModeTooLong',
        'CertificateExpiring',
        'PulseProbesStale',
        'PulseWorkerMissing',
        'PulseDown',
      ]),
    );
    for (const a of alerts) {
      const labels = a.labels as Record<string, string>;
      const annotations = a.annotations as Record<string, string>;
      expect(['critical', 'warning'], String(a.alert)).toContain(labels.severity);
      expect(annotations.summary, String(a.alert)).toBeTruthy();
      expect(annotations.description, String(a.alert)).toBeTruthy();
      expect(annotations.runbook_url, String(a.alert)).toMatch(/^README\.md#[a-z]+$/);
    }
    // Every runbook link has its section.
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8').toLowerCase();
    for (const a of alerts) {
      const anchor = (a.annotations as Record<string, string>).runbook_url!.split('#')[1]!;
      expect(readme, anchor).toMatch(new RegExp(`^#+ ${anchor}\\b`, 'm'));
    }
  });
});

describe('the Grafana dashboard', () => {
  it('is a dashboard model with a Prometheus datasource variable that every panel uses', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource?.uid, p.title).toBe('${datasource}');
    }
  });

  it('shows practices by status, open incidents, services, scheduler lag, workers, WebSocket clients and scrape health', () => {
    const exprs = dashboardTargets.map((t) => t.expr).join('\n');
    for (const metric of [
      'pulse_practices{',
      'pulse_incidents_open{',
      'pulse_service_status{',
      'pulse_scheduler_lag_seconds{',
      'pulse_worker_connections{',
      'pulse_websocket_clients{',
      'up{',
      'scrape_duration_seconds{',
    ]) {
      expect(exprs).toContain(metric);
    }
  });
});

describe('a real Prometheus scraping a running Pulse', () => {
  it('uses only metrics Pulse serves, in the rules and on the dashboard', async () => {
    const text = await (await fetch(`${pulse.url}/metrics`)).text();
    const served = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' || type === 'summary' ? [name!, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
    ));
    const used = [...ruleExprs, ...dashboardTargets.map((t) => ({ name: t.panel, expr: t.expr }))].flatMap((r) =>
      metricNames(r.expr).map((metric) => ({ where: r.name, metric })),
    );
    expect(used.length).toBeGreaterThan(20);
    expect(used.filter((u) => !served.has(u.metric))).toEqual([]);
  });

  it('scrapes Pulse: up{job="pulse"} is 1 and every practice is up', async () => {
    await waitFor('Prometheus to scrape Pulse', async () => (await value('up{job="pulse"}')) === 1);
    await waitFor(
      'every practice up in Prometheus',
      async () => (await value('pulse_practices{job="pulse", status="up"}')) === sim.practices.length,
      20_000,
      200,
    );
    expect(await value('sum(pulse_worker_connections{job="pulse"})')).toBe(1);
    expect((await prometheus!.query('pulse_practice_status{job="pulse"} == 1')).length).toBe(sim.practices.length);
  }, 45_000);

  it('runs every dashboard query without error, grouped by labels Pulse really has, and the key panels have data', async () => {
    for (const t of dashboardTargets) {
      const result = await prometheus!.query(asGrafanaSends(t.expr)).catch((err: unknown) => {
        throw new Error(`panel "${t.panel}": ${String(err)}\n${t.expr}`);
      });
      // A `by (label)` on a label the metric lacks runs fine and draws one nameless line.
      const groupedBy = [...t.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
      for (const label of groupedBy) {
        for (const series of result) expect(series.metric[label], `panel "${t.panel}" groups by ${label}`).toBeTruthy();
      }
    }
    const byStatus = dashboardTargets.find((t) => t.panel === 'Practices by status')!;
    expect((await prometheus!.query(asGrafanaSends(byStatus.expr))).length).toBe(7);
    const services = dashboardTargets.find((t) => t.panel === 'Service status')!;
    const codes = await prometheus!.query(asGrafanaSends(services.expr));
    expect(codes.map((s) => s.metric.service).sort()).toEqual(sim.services.map((s) => s.id).sort());
    expect(codes.every((s) => s.value === 0)).toBe(true); // 0 is "up"
  });

  it('sees an EMIS Web outage: every EMIS practice down, ServiceDown and ManyPracticesDown raised; then recovery', async () => {
    const emis = sim.practices.filter((p) => p.system === 'emis-web');
    const emisOds = new Set(emis.map((p) => p.ods));
    // ICBs where EMIS practices are at least 5 and 10%: the ones ManyPracticesDown must name.
    const icbs = [...new Set(sim.practices.map((p) => p.icb))];
    const hitIcbs = icbs.filter((icb) => {
      const all = sim.practices.filter((p) => p.icb === icb).length;
      const down = emis.filter((p) => p.icb === icb).length;
      return down >= 5 && down / all >= 0.1;
    });
    expect(hitIcbs.length).toBeGreaterThan(0);

    await sim.play('emis-web-outage', { durationMs: 60_000 });

    await waitFor(
      'Prometheus to show every EMIS practice down',
      async () => (await value('pulse_practices{job="pulse", status="down"}')) === emis.length,
      20_000,
      200,
    );
    const down = await prometheus!.query('pulse_practice_status{job="pulse", status="down"} == 1');
    expect(new Set(down.map((s) => s.metric.ods))).toEqual(emisOds);
    expect(await value('pulse_service_status{job="pulse", service="emis-web", status="down"}')).toBe(1);

    const serviceDown = await waitFor(
      'ServiceDown for emis-web, pending or firing',
      async () => (await active('ServiceDown')).find((a) => a.labels.service === 'emis-web'),
      10_000,
      200,
    );
    expect(['pending', 'firing']).toContain(serviceDown.state);
    expect(serviceDown.labels).toMatchObject({ severity: 'critical', job: 'pulse' });
    expect(serviceDown.annotations.summary).toBe('emis-web is down');
    expect(serviceDown.annotations.description).toContain(`${emis.length} practices are down in total`);

    // One ManyPracticesDown per hit ICB, and no PracticeDown for the practices it covers.
    await waitFor(
      'ManyPracticesDown for each hit ICB, and PracticeDown held back there',
      async () => {
        const many = (await active('ManyPracticesDown')).map((a) => a.labels.icb).sort();
        const practiceDown = (await active('PracticeDown')).filter((a) => hitIcbs.includes(a.labels.icb!));
        return JSON.stringify(many) === JSON.stringify([...hitIcbs].sort()) && practiceDown.length === 0;
      },
      10_000,
      200,
    );
    expect(await value('sum(pulse_incidents_open{job="pulse", kind="service"})')).toBeGreaterThanOrEqual(1);

    await sim.restoreAll();
    await waitFor(
      'Prometheus to show every practice back up',
      async () =>
        (await value('pulse_practices{job="pulse", status="down"}')) === 0 &&
        (await value('pulse_practices{job="pulse", status="up"}')) === sim.practices.length,
      20_000,
      200,
    );
    await waitFor(
      'ServiceDown and ManyPracticesDown to clear',
      async () => (await active('ServiceDown')).length === 0 && (await active('ManyPracticesDown')).length === 0,
      10_000,
      200,
    );
    expect(await value('pulse_service_status{job="pulse", service="emis-web", status="up"}')).toBe(1);
    // Pulse's own alerts stayed quiet throughout.
    const self = (await prometheus!.alerts()).filter((a) => a.labels.alertname!.startsWith('Pulse'));
    expect(self).toEqual([]);
  }, 60_000);
});
