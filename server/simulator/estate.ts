// Generates the simulated estate: the fixed service catalogue and a seeded set of
// practices grouped in PCNs and ICBs. Pure and deterministic from (count, seed); knows
// nothing about ports or sockets. Never imported by production code.
import type { ServiceKind } from './types';

export interface ServiceSpec {
  id: string;
  name: string;
  kind: ServiceKind;
  dependsOn: { service: string; impact: 'critical' | 'degrading' }[];
  /** The check an estate file gives it: tcp for the network, http for the rest. */
  check: 'http' | 'tcp';
}

/** Ids are fixed: the demo, the scenarios and the tests rely on them. */
export const serviceCatalogue: readonly ServiceSpec[] = [
  { id: 'hscn', name: 'HSCN', kind: 'network', dependsOn: [], check: 'tcp' },
  { id: 'emis-web', name: 'EMIS Web', kind: 'clinical-system', dependsOn: [{ service: 'hscn', impact: 'critical' }], check: 'http' },
  { id: 'systmone', name: 'TPP SystmOne', kind: 'clinical-system', dependsOn: [{ service: 'hscn', impact: 'critical' }], check: 'http' },
  { id: 'vision', name: 'Vision', kind: 'clinical-system', dependsOn: [{ service: 'hscn', impact: 'critical' }], check: 'http' },
  { id: 'spine', name: 'Spine (PDS/SDS)', kind: 'national', dependsOn: [], check: 'http' },
  { id: 'eps', name: 'Electronic Prescription Service', kind: 'national', dependsOn: [], check: 'http' },
  { id: 'ers', name: 'e-Referral Service', kind: 'national', dependsOn: [], check: 'http' },
  // GP Connect is reached through the Spine secure proxy, so it cannot outlive Spine.
  { id: 'gp-connect', name: 'GP Connect', kind: 'national', dependsOn: [{ service: 'spine', impact: 'critical' }], check: 'http' },
  { id: 'nhs-111', name: 'NHS 111 online', kind: 'national', dependsOn: [], check: 'http' },
];

export const clinicalSystems = ['emis-web', 'systmone', 'vision'] as const;
export type ClinicalSystem = (typeof clinicalSystems)[number];

/** National shares (DOMAIN.md): EMIS Web ~58%, SystmOne ~33%, Vision the rest. */
const systemShares: Record<ClinicalSystem, number> = { 'emis-web': 0.58, systmone: 0.33, vision: 0.09 };

export interface PracticeSpec {
  ods: string;
  name: string;
  pcn: string;
  icb: string;
  system: ClinicalSystem;
}

interface IcbSpec {
  code: string;
  /** ODS practice codes in an area share a letter and two digits, e.g. B86xxx in Leeds. */
  odsPrefixes: string[];
  places: string[];
}

const icbs: readonly IcbSpec[] = [
  { code: 'QWO', odsPrefixes: ['B86', 'B87', 'B82'], places: ['Leeds', 'Bradford', 'Wakefield', 'Calderdale', 'Kirklees'] },
  { code: 'QOQ', odsPrefixes: ['B81', 'B84', 'B85'], places: ['Hull', 'York', 'Scarborough', 'Harrogate', 'East Riding'] },
  { code: 'QHM', odsPrefixes: ['A81', 'A82', 'A84'], places: ['Newcastle', 'Sunderland', 'Durham', 'Gateshead', 'Teesside'] },
];

const pcnQualifiers = ['Central', 'North', 'South', 'East', 'West', 'Inner', 'Outer', 'Rural'];

const practiceStems = [
  'Riverside', 'Oakwood', 'Park View', 'Church Lane', 'Meadowbank', 'Hillside', 'Beech House',
  'Kirkgate', 'Abbey', 'Moorland', 'Valley', 'Elmwood', 'The Grange', 'Castle', 'Northgate',
  'Bridge Street', 'Station Road', 'Westfield', 'Ashfield', 'Holly Bank', 'Willow Tree',
  'Priory', 'Market Place', 'Fernbank', 'Laurel Bank', 'Dales', 'Ings Road', 'Springfield',
  'Chapel Allerton', 'Burley Park', 'High Street', 'Lime Grove', 'The Crescent', 'Mill Lane',
  'Wharfedale', 'Cedar House', 'Rosedale', 'Minster', 'Harbour', 'Thornbury', 'Kings Road',
  'Queens Park', 'Lister House', 'Manor House', 'Green Lane', 'Woodhouse', 'Heathfield',
  'Brookside', 'Orchard', 'Highfield', 'Larchwood', 'Fairfield', 'Marsh Lane', 'Sycamore',
  "St Andrew's", "St John's", "St Mary's", 'Cross Keys', 'Windmill', 'Oak Tree', 'Hawthorn',
  'Foxhill', 'Lakeside', 'Greenside', 'Sandhill', 'Birchwood', 'Oakfield', 'Swan Lane',
  'Parkside', 'Victoria', 'Albion', 'Wellington', 'Crown Street', 'Bank House', 'Old Mill',
  'Long Lane', 'Hollybush', 'Portland', 'Roundhay',
];

const practiceSuffixes = ['Medical Practice', 'Surgery', 'Health Centre', 'Medical Centre', 'Family Practice', 'Group Practice'];

/** mulberry32: small, fast and good enough for picking names. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** PCN sizes of 4 to 6 adding up to `count` (a tiny estate may have one smaller PCN). */
function pcnSizes(random: () => number, count: number): number[] {
  const sizes: number[] = [];
  let left = count;
  while (left > 0) {
    let size: number;
    if (left <= 6) size = left;
    else if (left < 10) size = Math.floor(left / 2);
    else size = 4 + Math.floor(random() * 3);
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

/** Exact counts per system from the national shares, so small estates still match them. */
function systemCounts(count: number): Record<ClinicalSystem, number> {
  const emis = Math.round(count * systemShares['emis-web']);
  const systmone = Math.min(count - emis, Math.round(count * systemShares.systmone));
  return { 'emis-web': emis, systmone, vision: count - emis - systmone };
}

export function generatePractices(count: number, seed: number): PracticeSpec[] {
  const random = seededRandom(seed);
  const sizes = pcnSizes(random, count);
  const icbCount = count >= 40 ? 3 : count >= 12 ? 2 : 1;
  // Each stem once before any repeats, so names stay easy to tell apart on a wall.
  const stems = shuffled(random, practiceStems);

  const usedOds = new Set<string>();
  const usedNames = new Set<string>();
  const usedPcns = new Set<string>();
  const pcns: Omit<PracticeSpec, 'system'>[][] = [];

  sizes.forEach((size, pcnIndex) => {
    const icb = icbs[Math.floor((pcnIndex * icbCount) / sizes.length)]!;
    const place = icb.places[pcnIndex % icb.places.length]!;
    const pcn = uniqueName(usedPcns, (n) => {
      const qualifier = pcnQualifiers[(Math.floor(pcnIndex / icb.places.length) + n) % pcnQualifiers.length]!;
      const round = Math.floor(n / pcnQualifiers.length);
      return `${place} ${qualifier}${round > 0 ? ` ${round + 1}` : ''} PCN`;
    });
    const members: Omit<PracticeSpec, 'system'>[] = [];
    for (let i = 0; i < size; i++) {
      const name = uniqueName(usedNames, (n) => {
        const stem = usedNames.size < stems.length ? stems[usedNames.size]! : pick(random, stems);
        const base = `${stem} ${pick(random, practiceSuffixes)}`;
        // After many clashes the name pool is spent: say where it is, as real duplicates do.
        return n < 20 ? base : `${base}, ${place}${n >= 40 ? ` ${n}` : ''}`;
      });
      members.push({ ods: odsCode(random, usedOds, icb), name, pcn, icb: icb.code });
    }
    pcns.push(members);
  });

  // Suppliers cluster by area (DOMAIN.md): hand out the exact national counts PCN by PCN,
  // in a seeded PCN order, so most PCNs run one system and a few straddle two.
  const counts = systemCounts(count);
  const systems = clinicalSystems.flatMap((s) => Array<ClinicalSystem>(counts[s]).fill(s));
  const systemOf = new Map<string, ClinicalSystem>();
  let next = 0;
  for (const members of shuffled(random, pcns)) {
    for (const p of members) systemOf.set(p.ods, systems[next++]!);
  }
  return pcns.flat().map((p) => ({ ...p, system: systemOf.get(p.ods)! }));
}

function uniqueName(used: Set<string>, candidate: (attempt: number) => string): string {
  for (let n = 0; ; n++) {
    const name = candidate(n);
    if (!used.has(name)) {
      used.add(name);
      return name;
    }
  }
}

function odsCode(random: () => number, used: Set<string>, icb: IcbSpec): string {
  for (let attempt = 0; attempt < 50; attempt++) {
    const code = `${pick(random, icb.odsPrefixes)}${String(1 + Math.floor(random() * 400)).padStart(3, '0')}`;
    if (!used.has(code)) {
      used.add(code);
      return code;
    }
  }
  // A large estate exhausts the area's usual numbers: walk the letter's whole space.
  const letter = icb.odsPrefixes[0]![0]!;
  for (let n = 0; n < 100_000; n++) {
    const code = `${letter}${String(n).padStart(5, '0')}`;
    if (!used.has(code)) {
      used.add(code);
      return code;
    }
  }
  throw new RangeError(`no ODS codes left under ${letter}`);
}
