// Loads an estate file (YAML) into the resolved estate model, or fails with one
// ConfigError whose message names the file, line and field. Never throws anything else
// for bad input: a config mistake must read like a sentence, not a stack trace.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { getCheckKind } from '../../probes/registry';
import type { FleetConfig } from '../fleet/config';
import { resolveRetention, type Retention } from '../history/retention';
import type { OidcConfig } from '../auth/oidc-config';
import type { PatientTemplates } from '../patients/page';
import { FLEET_CHECK_KIND, fleetCheckId } from '../fleet/toResult';
import type { CheckAssignment } from '../../probes/types';
import { parseDuration } from './duration';
import { planFor, resolvePlan, type BackupConfig } from '../backup/config';
import { estateFileSchema, type EstateFile } from './schema';
import type { IncidentRules } from '../incidents/config';

export type Impact = 'critical' | 'degrading';
export interface Dependency {
  service: string;
  impact: Impact;
}

export type SubjectRef = { type: 'service'; id: string } | { type: 'practice'; id: string };

export interface Check extends CheckAssignment {
  subject: SubjectRef;
}

export interface Service {
  id: string;
  name: string;
  kind: 'clinical-system' | 'national' | 'network';
  dependsOn: Dependency[];
  checks: string[];
}

export interface Practice {
  ods: string;
  name: string;
  pcn: string;
  icb: string | null;
  system: string;
  /** Includes the principal clinical system as a critical dependency. */
  dependsOn: Dependency[];
  checks: string[];
  /** Workstation heartbeats, when configured: its check is `<ODS>-fleet`. */
  fleet: FleetConfig | null;
  /** The id of its continuity plan in `estate.backup.plans`; null: no plan (switching still records). */
  backupPlan: string | null;
}

export interface Estate {
  source: string;
  services: Map<string, Service>;
  practices: Map<string, Practice>;
  checks: Map<string, Check>;
  status: {
    failuresToDown: number;
    successesToUp: number;
    quorum: number;
    flapping?: { windowMs: number; maxChanges: number };
  };
  /** Planned maintenance windows from the file (more can be added through the API). */
  maintenance: MaintenanceWindow[];
  retention: Retention;
  auth: { oidc: OidcConfig | null; sessionTtlMs: number };
  patients: { nhs111Service: string; templates: PatientTemplates };
  backup: BackupConfig;
  /** Grouping thresholds for incidents (see server/incidents/config.ts). */
  incidents: IncidentRules;
}

export interface MaintenanceWindow {
  id: string;
  subject: `service:${string}` | `practice:${string}`;
  start: number;
  end: number;
  author: string;
  reason: string;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly field: string | null,
    readonly reason: string,
  ) {
    super(oneLine(`${file}${line ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${reason}`));
    this.name = 'ConfigError';
  }
}

/**
 * Control characters (a newline in a quoted value or key, a terminal escape) written as
 * escapes, so the message stays one line and prints safely whatever the file contains.
 */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) =>
    ch === '\n' ? '\\n' : ch === '\r' ? '\\r' : ch === '\t' ? '\\t' : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

type Path = (string | number)[];

function fieldName(path: Path): string | null {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || null;
}

/** The line of the deepest node that exists along `path` (a missing field points at its parent). */
function lineOf(doc: Document, counter: LineCounter, path: Path): number | null {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return null;
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, counter: LineCounter, file: string): ConfigError {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  let reason = issue.message;
  if (issue.code === 'unrecognized_keys') {
    reason = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    const keyPath = [...path, issue.keys[0]!];
    return new ConfigError(file, lineOf(doc, counter, keyPath), fieldName(keyPath), reason);
  }
  if (issue.code === 'invalid_union' && (issue as { note?: string }).note === 'No matching discriminator') {
    const kinds = (issue as { options?: unknown[] }).options;
    reason = `unknown check kind; expected one of ${kinds?.map(String).join(', ') ?? 'the registered kinds'}`;
    const kindPath = path[path.length - 1] === 'kind' ? path : [...path, 'kind'];
    return new ConfigError(file, lineOf(doc, counter, kindPath), fieldName(kindPath), reason);
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    reason = `missing (${issue.expected} required)`;
  }
  return new ConfigError(file, lineOf(doc, counter, path), fieldName(path), reason);
}

/** Parses and validates estate YAML text. `file` is used in error messages only. */
export function parseEstate(text: string, file: string): Estate {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = counter.linePos(Math.min(yamlError.pos[0], text.length)).line;
    const reason = yamlError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(file, line, null, `invalid YAML: ${reason}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // An alias to no anchor, or aliases nested to expand without limit ("billion laughs").
    throw new ConfigError(file, null, null, `invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (raw === null || raw === undefined) throw new ConfigError(file, null, null, 'the file is empty');
  const parsed = estateFileSchema.safeParse(raw);
  if (!parsed.success) throw describeIssue(parsed.error.issues[0]!, doc, counter, file);

  const fail = (path: Path, reason: string): never => {
    throw new ConfigError(file, lineOf(doc, counter, path), fieldName(path), reason);
  };
  return resolve(parsed.data, file, fail);
}

export function loadEstateFile(file: string): Estate {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, null, null, code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})`);
  }
  return parseEstate(text, file);
}

function resolve(data: EstateFile, source: string, fail: (path: Path, reason: string) => never): Estate {
  const defaultInterval = parseDuration(data.defaults.interval)!;
  const defaultTimeout = parseDuration(data.defaults.timeout)!;
  const services = new Map<string, Service>();
  const practices = new Map<string, Practice>();
  const checks = new Map<string, Check>();
  const checkPath = new Map<string, Path>();

  const addChecks = (entries: EstateFile['services'][number]['checks'], owner: Path, subject: SubjectRef): string[] =>
    entries.map((entry, i) => {
      const path = [...owner, 'checks', i];
      const seen = checkPath.get(entry.id);
      if (seen) fail([...path, 'id'], `duplicate check id "${entry.id}" (first used at ${fieldName(seen)})`);
      const kind = getCheckKind(entry.kind)!;
      const targetError = kind.validateTarget(entry.target);
      if (targetError) fail([...path, 'target'], targetError);
      const intervalMs = entry.interval ? parseDuration(entry.interval)! : defaultInterval;
      const timeoutMs = entry.timeout ? parseDuration(entry.timeout)! : defaultTimeout;
      if (timeoutMs > intervalMs) {
        fail([...path, 'timeout'], `timeout ${entry.timeout ?? data.defaults.timeout} is longer than the interval ${entry.interval ?? data.defaults.interval}`);
      }
      const { id, kind: kindName, target, interval: _i, timeout: _t, ...options } = entry;
      // The kind's own schema again, whole: rules that compare options (e.g. `_status` needs `apiKey`).
      const whole = kind.options.safeParse(options);
      if (!whole.success) {
        const issue = whole.error.issues[0]!;
        const at = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
        fail([...path, ...at], issue.message);
      }
      checks.set(id, { id, kind: kindName, target, intervalMs, timeoutMs, options, subject });
      checkPath.set(id, path);
      return id;
    });

  data.services.forEach((s, i) => {
    if (services.has(s.id)) fail(['services', i, 'id'], `duplicate service id "${s.id}"`);
    services.set(s.id, {
      id: s.id,
      name: s.name,
      kind: s.kind,
      dependsOn: s.dependsOn,
      checks: addChecks(s.checks, ['services', i], { type: 'service', id: s.id }),
    });
  });

  const known = () => [...services.keys()].join(', ');
  data.services.forEach((s, i) =>
    s.dependsOn.forEach((d, j) => {
      if (!services.has(d.service)) fail(['services', i, 'dependsOn', j, 'service'], `unknown service "${d.service}" (known: ${known()})`);
      if (d.service === s.id) fail(['services', i, 'dependsOn', j, 'service'], `service "${s.id}" cannot depend on itself`);
    }),
  );
  const cycle = findCycle(services);
  if (cycle) {
    const i = data.services.findIndex((s) => s.id === cycle[0]);
    fail(['services', i, 'dependsOn'], `dependency cycle: ${cycle.join(' → ')}`);
  }

  data.practices.forEach((p, i) => {
    if (practices.has(p.ods)) fail(['practices', i, 'ods'], `duplicate practice "${p.ods}"`);
    const system = services.get(p.system);
    if (!system) fail(['practices', i, 'system'], `unknown service "${p.system}" (known: ${known()})`);
    else if (system.kind !== 'clinical-system') {
      fail(['practices', i, 'system'], `"${p.system}" is a ${system.kind} service, not a clinical system`);
    }
    p.dependsOn.forEach((d, j) => {
      if (!services.has(d.service)) fail(['practices', i, 'dependsOn', j, 'service'], `unknown service "${d.service}" (known: ${known()})`);
    });
    const explicit = p.dependsOn.filter((d) => d.service !== p.system);
    const own = addChecks(p.checks, ['practices', i], { type: 'practice', id: p.ods });
    if (p.fleet) {
      const id = fleetCheckId(p.ods);
      if (checkPath.has(id)) fail(['practices', i, 'fleet'], `check id "${id}" is taken by ${fieldName(checkPath.get(id)!)}`);
      // Pushed, not probed: evaluated by the server every interval; stale after 2 × interval + interval.
      checks.set(id, {
        id,
        kind: FLEET_CHECK_KIND,
        target: `push:${p.ods}`,
        intervalMs: p.fleet.intervalMs,
        timeoutMs: p.fleet.intervalMs,
        options: {},
        subject: { type: 'practice', id: p.ods },
      });
      checkPath.set(id, ['practices', i, 'fleet']);
      own.push(id);
    }
    practices.set(p.ods, {
      ods: p.ods,
      name: p.name,
      pcn: p.pcn,
      icb: p.icb ?? null,
      system: p.system,
      dependsOn: [{ service: p.system, impact: 'critical' }, ...explicit],
      checks: own,
      fleet: p.fleet ?? null,
      backupPlan: null,
    });
  });

  const plans: BackupConfig['plans'] = new Map();
  data.backup.plans.forEach((plan, i) => {
    if (plans.has(plan.id)) fail(['backup', 'plans', i, 'id'], `duplicate plan id "${plan.id}"`);
    const ids = (items: { id: string }[], field: string) => {
      const seen = new Set<string>();
      items.forEach((item, j) => {
        if (seen.has(item.id)) fail(['backup', 'plans', i, field, j, 'id'], `duplicate ${field} item "${item.id}" in plan "${plan.id}"`);
        seen.add(item.id);
      });
    };
    ids(plan.checklist, 'checklist');
    ids(plan.readiness, 'readiness');
    const names = new Set<string>();
    plan.actions.forEach((a, j) => {
      if (names.has(a.name)) fail(['backup', 'plans', i, 'actions', j, 'name'], `duplicate action name "${a.name}" in plan "${plan.id}"`);
      names.add(a.name);
    });
    plans.set(plan.id, resolvePlan(plan));
  });
  const defaults = data.backup.plans.flatMap((p, i) => (p.default ? [i] : []));
  if (defaults.length > 1) fail(['backup', 'plans', defaults[1]!, 'default'], `only one plan may be the default (plan "${data.backup.plans[defaults[0]!]!.id}" is already)`);
  data.practices.forEach((p, i) => {
    const practice = practices.get(p.ods)!;
    if (p.backupPlan && !plans.has(p.backupPlan)) {
      fail(['practices', i, 'backupPlan'], `unknown backup plan "${p.backupPlan}" (known: ${[...plans.keys()].join(', ') || 'none: add backup.plans'})`);
    }
    practice.backupPlan = planFor({ backupPlan: p.backupPlan ?? null, pcn: practice.pcn, icb: practice.icb, system: practice.system }, data.backup);
  });

  const maintenance = data.maintenance.map((m, i): MaintenanceWindow => {
    const [type, id] = [m.subject.slice(0, m.subject.indexOf(':')), m.subject.slice(m.subject.indexOf(':') + 1)];
    if (type === 'service' ? !services.has(id) : !practices.has(id)) {
      fail(['maintenance', i, 'subject'], `unknown ${type} "${id}"`);
    }
    const start = Date.parse(m.start);
    const end = Date.parse(m.end);
    if (end <= start) fail(['maintenance', i, 'end'], `end ${m.end} is not after start ${m.start}`);
    return { id: `config-${i + 1}`, subject: m.subject as MaintenanceWindow['subject'], start, end, author: m.author, reason: m.reason };
  });

  const { flapping, ...rules } = data.status;
  return {
    source,
    services,
    practices,
    checks,
    status: flapping ? { ...rules, flapping: { windowMs: parseDuration(flapping.window)!, maxChanges: flapping.maxChanges } } : rules,
    maintenance,
    retention: resolveRetention(data.retention),
    auth: { oidc: data.auth.oidc ?? null, sessionTtlMs: parseDuration(data.auth.session)! },
    patients: data.patients,
    backup: {
      notify: data.backup.notify,
      maxAttempts: data.backup.maxAttempts,
      publicUrl: data.backup.publicUrl ?? null,
      plans,
    },
    incidents: data.incidents,
  };
}

/** A service dependency cycle as a list of ids (first repeated at the end), or null. */
function findCycle(services: Map<string, Service>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 'done') return null;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of services.get(id)?.dependsOn ?? []) {
      const found = visit(dep.service);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return null;
  };
  for (const id of services.keys()) {
    const found = visit(id);
    if (found) return found;
  }
  return null;
}
