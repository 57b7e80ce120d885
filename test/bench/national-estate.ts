// The estate file test/bench/national.ts gives the real server: the simulator's practices
// (generatePractices: ODS codes, PCNs, ICBs, the national shares of clinical systems) and
// its service catalogue, written in the estate file format (docs/configuration.md) as
// block YAML, as a person would write it (the loader reads flow-style JSON too, about twice
// as slowly). Every check points at a loopback target of
// test/bench/target.ts: practice i's checks all on host i (a practice's own handful of
// services), the shared services on hosts after the practices'. Pure; writes nothing.
import { stringify } from 'yaml';
import { generatePractices, serviceCatalogue, type PracticeSpec } from '../../server/simulator/estate';
import { hostAddress } from './estate';

export interface NationalEstateOptions {
  practices: number;
  /** Checks per practice: `tcpPerPractice` of them tcp, the rest http. */
  checksPerPractice: number;
  tcpPerPractice: number;
  interval: string;
  timeout: string;
  port: number;
  /** A fleet per practice (heartbeats), or none. */
  fleet: { tokenFile: string; interval: string; expectedAgents: number } | null;
  seed: number;
}

export interface NationalEstate {
  /** The file's text. */
  text: string;
  practices: PracticeSpec[];
  /** Probed checks in the file (the fleets' checks are evaluated by the server, not probed). */
  checks: number;
  httpChecks: number;
  tcpChecks: number;
  /** Loopback hosts the targets must serve: practices first, then one per service. */
  hosts: number;
  /** One http URL per probed http check, for the peer (blackbox_exporter) to probe the same. */
  httpUrls: string[];
}

export function nationalEstate(opts: NationalEstateOptions): NationalEstate {
  const practices = generatePractices(opts.practices, opts.seed);
  const httpUrls: string[] = [];
  let tcpChecks = 0;
  const check = (id: string, host: number, k: number, tcp: boolean) => {
    const address = hostAddress(host);
    if (tcp) {
      tcpChecks++;
      return { id, kind: 'tcp', target: `${address}:${opts.port}` };
    }
    const target = `http://${address}:${opts.port}/c${k}`;
    httpUrls.push(target);
    return { id, kind: 'http', target };
  };
  const services = serviceCatalogue.map((s, i) => ({
    id: s.id,
    name: s.name,
    kind: s.kind,
    dependsOn: s.dependsOn,
    checks: [check(`${s.id}-${s.check}`, opts.practices + i, 0, s.check === 'tcp')],
  }));
  const file = {
    defaults: { interval: opts.interval, timeout: opts.timeout },
    services,
    practices: practices.map((p, i) => ({
      ods: p.ods,
      name: p.name,
      pcn: p.pcn,
      icb: p.icb,
      system: p.system,
      checks: Array.from({ length: opts.checksPerPractice }, (_, k) =>
        check(`${p.ods}-c${k}`, i, k, k >= opts.checksPerPractice - opts.tcpPerPractice),
      ),
      ...(opts.fleet
        ? { fleet: { token: { file: opts.fleet.tokenFile }, interval: opts.fleet.interval, expectedAgents: opts.fleet.expectedAgents } }
        : {}),
    })),
  };
  const checks = opts.practices * opts.checksPerPractice + services.length;
  return {
    text: stringify(file),
    practices,
    checks,
    httpChecks: checks - tcpChecks,
    tcpChecks,
    hosts: opts.practices + services.length,
    httpUrls,
  };
}
