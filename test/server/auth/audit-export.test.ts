// The audit log exported for incident review: CSV (RFC 4180, defused against formula injection)
// and JSON (exact, re-verifiable), the paging that reads the whole log, and
// `npm run users -- audit-export` / `npm run audit:verify` on a real, then tampered, SQLite file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditExportFilename, auditToCsv, auditToJson, csvCell, readWholeAuditLog } from '../../../server/auth/audit-export';
import type { AuditEntry, AuditInput } from '../../../server/auth/types';
import { ACCOUNT_MIGRATIONS, GENESIS_HASH, SqliteAccountStore, auditHash } from '../../../server/store/sqlite/accounts';
import { migrate, openDatabase, type Db } from '../../../server/store/sqlite/db';
import { runUsersCli } from '../../../server/users-cli';

const T0 = Date.UTC(2026, 10, 27, 9, 30, 0, 123);
const root = mkdtempSync(join(tmpdir(), 'pulse-audit-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A real store on a fresh data folder, with `inputs` appended in order. */
async function logWith(name: string, inputs: Omit<AuditInput, 'at'>[]): Promise<{ dir: string; db: Db; store: SqliteAccountStore; entries: AuditEntry[] }> {
  const dir = join(root, name);
  const db = openDatabase(dir);
  migrate(db, ACCOUNT_MIGRATIONS);
  const store = new SqliteAccountStore(db);
  const entries: AuditEntry[] = [];
  for (const [i, input] of inputs.entries()) entries.push(await store.appendAudit({ ...input, at: T0 + i * 60_000 }));
  return { dir, db, store, entries };
}

/** RFC 4180 reader, just enough to read back what auditToCsv wrote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  expect(quoted, 'an unterminated quoted cell').toBe(false);
  expect(cell === '' && row.length === 0, 'text after the last CRLF').toBe(true);
  return rows;
}

const SAMPLE: Omit<AuditInput, 'at'>[] = [
  { actor: 'jsmith', action: 'auth.signin', subject: 'user:jsmith', detail: { address: '10.0.0.7' } },
  { actor: 'anonymous@10.0.0.9', action: 'auth.signin.failed', subject: 'user:=cmd|\' /C calc\'!A0', detail: { reason: 'credentials', address: '10.0.0.9' } },
  { actor: 'ops', action: 'practice.report.down', subject: 'practice:A81001', detail: { note: 'no EMIS, "all" PCs,\r\nreception on paper', by: '+44 7700 900123' } },
  { actor: 'system', action: 'backup.enter', subject: null, detail: { z: 1, a: { d: 2, c: [3, { y: 4, b: 5 }] }, '10': 'ten', '2': 'two' } },
];

describe('auditToCsv', () => {
  let entries: AuditEntry[];
  beforeAll(async () => {
    ({ entries } = await logWith('csv', SAMPLE));
  });

  it('has a header row and one row per entry, oldest first, whatever order it is given', () => {
    const rows = parseCsv(auditToCsv([...entries].reverse()));
    expect(rows[0]).toEqual(['seq', 'at', 'actor', 'action', 'subject', 'detail', 'prev_hash', 'hash']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['1', '2', '3', '4']);
    expect(rows[1]).toEqual(['1', '2026-11-27T09:30:00.123Z', 'jsmith', 'auth.signin', 'user:jsmith', '{"address":"10.0.0.7"}', GENESIS_HASH, entries[0]!.hash]);
    expect(rows[2]![6]).toBe(entries[0]!.hash);
    expect(rows.every((r) => r.length === 8)).toBe(true);
  });

  it('ends every line, the last included, with CRLF', () => {
    const csv = auditToCsv(entries.slice(0, 1));
    expect(csv).toBe(`seq,at,actor,action,subject,detail,prev_hash,hash\r\n1,2026-11-27T09:30:00.123Z,jsmith,auth.signin,user:jsmith,"{""address"":""10.0.0.7""}",${GENESIS_HASH},${entries[0]!.hash}\r\n`);
  });

  it('quotes cells holding quotes, commas, CR or LF (quotes doubled), and reads back exactly', () => {
    const csv = auditToCsv(entries);
    const rows = parseCsv(csv);
    const detail = rows[3]![5]!;
    expect(JSON.parse(detail)).toEqual(SAMPLE[2]!.detail);
    expect(csv).toContain('"{""by"":""+44 7700 900123"",""note"":""no EMIS, \\""all\\"" PCs,\\r\\nreception on paper""}"');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('')).toBe('');
  });

  it('writes detail as canonical JSON: keys sorted at every depth, as hashed', () => {
    const rows = parseCsv(auditToCsv(entries));
    expect(rows[4]![5]).toBe('{"10":"ten","2":"two","a":{"c":[3,{"b":5,"y":4}],"d":2},"z":1}');
    expect(rows[4]![4]).toBe('');
  });

  it('defuses cells a spreadsheet would run as a formula: = + - @ tab CR get a leading quote mark', () => {
    for (const [text, cell] of [
      ['=HYPERLINK("http://evil.example","x")', `"'=HYPERLINK(""http://evil.example"",""x"")"`],
      ['+1+1', "'+1+1"],
      ['-2+3', "'-2+3"],
      ['@SUM(A1:A2)', "'@SUM(A1:A2)"],
      ['\t=1', "'\t=1"],
      ['\r=1', `"'\r=1"`],
      ['a=1', 'a=1'],
      [' =1', ' =1'],
    ] as const) {
      expect(csvCell(text), JSON.stringify(text)).toBe(cell);
    }
    const rows = parseCsv(auditToCsv(entries));
    // A formula character later in a cell is harmless, and left as it is.
    expect(rows[2]![4]).toBe("user:=cmd|' /C calc'!A0");
    // The whole row read back: no cell of any row starts with a formula character.
    for (const row of rows) for (const c of row) expect(c).not.toMatch(/^[=+\-@\t\r]/);
  });

  it('defuses a crafted actor, the cell that starts a value', async () => {
    const { entries: crafted } = await logWith('crafted', [{ actor: '=2+5', action: '@x', subject: '-1', detail: {} }]);
    const row = parseCsv(auditToCsv(crafted))[1]!;
    expect(row.slice(2, 5)).toEqual(["'=2+5", "'@x", "'-1"]);
  });

  it('is only the header for an empty log', () => {
    expect(auditToCsv([])).toBe('seq,at,actor,action,subject,detail,prev_hash,hash\r\n');
  });
});

describe('auditToJson', () => {
  it('is an array, oldest first, with ISO times, from which the chain re-verifies', async () => {
    const { entries } = await logWith('json', SAMPLE);
    const parsed = JSON.parse(auditToJson([...entries].reverse())) as { seq: number; at: string; actor: string; action: string; subject: string | null; detail: Record<string, unknown>; prevHash: string; hash: string }[];
    expect(parsed.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(parsed[0]).toEqual({ seq: 1, at: '2026-11-27T09:30:00.123Z', actor: 'jsmith', action: 'auth.signin', subject: 'user:jsmith', detail: { address: '10.0.0.7' }, prevHash: GENESIS_HASH, hash: entries[0]!.hash });
    let prev = GENESIS_HASH;
    for (const e of parsed) {
      expect(e.prevHash).toBe(prev);
      expect(auditHash({ ...e, at: Date.parse(e.at) })).toBe(e.hash);
      prev = e.hash;
    }
    expect(parsed[1]!.subject).toBe("user:=cmd|' /C calc'!A0"); // JSON is exact: nothing defused
    expect(auditToJson([])).toBe('[]\n');
  });
});

describe('auditExportFilename', () => {
  it('names the file by the UTC date', () => {
    expect(auditExportFilename('csv', T0)).toBe('pulse-audit-2026-11-27.csv');
    expect(auditExportFilename('json', Date.UTC(2027, 0, 1, 23, 59))).toBe('pulse-audit-2027-01-01.json');
  });
});

describe('readWholeAuditLog', () => {
  it('reads every entry across pages, oldest first', async () => {
    const { store } = await logWith('paged', Array.from({ length: 10 }, (_, i) => ({ actor: 'a', action: 'x', subject: null, detail: { i } })));
    for (const pageSize of [1, 3, 5, 10, 11]) {
      const all = await readWholeAuditLog((l, o) => store.auditEntries(l, o), pageSize);
      expect(all.map((e) => e.seq), `page size ${pageSize}`).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
  });

  it('neither skips nor repeats an entry when others are appended while it reads: the log as it stood at the first page', async () => {
    const { store } = await logWith('racing', Array.from({ length: 7 }, (_, i) => ({ actor: 'a', action: 'x', subject: null, detail: { i } })));
    let calls = 0;
    const all = await readWholeAuditLog(async (limit, offset) => {
      const page = await store.auditEntries(limit, offset);
      if (calls++ < 3) await store.appendAudit({ at: T0, actor: 'b', action: 'y', subject: null, detail: { during: calls } });
      return page;
    }, 2);
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

// ---- the command line ----

function usersProcess(dataDir: string, args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'server/users-cli.ts', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, PULSE_DATA_DIR: dataDir, PULSE_CONFIG: '' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function usersHere(dataDir: string, args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const status = await runUsersCli(args, {
    env: { PULSE_DATA_DIR: dataDir },
    out: (line) => stdout.push(`${line}\n`),
    write: (text) => stdout.push(text),
    err: (line) => stderr.push(`${line}\n`),
    readPassword: async () => '',
    actor: 'cli:test',
  });
  return { status, stdout: stdout.join(''), stderr: stderr.join('') };
}

describe('npm run users -- audit-export', () => {
  let dir: string;
  let entries: AuditEntry[];
  beforeAll(async () => {
    const log = await logWith('cli', SAMPLE);
    log.db.close();
    dir = log.dir;
    entries = log.entries;
  });

  it('writes the whole log as CSV or JSON to stdout, nothing else', async () => {
    const csv = await usersHere(dir, ['audit-export', '--format', 'csv']);
    expect(csv).toMatchObject({ status: 0, stderr: '' });
    expect(csv.stdout).toBe(auditToCsv(entries));
    const json = await usersHere(dir, ['audit-export', '--format', 'JSON']);
    expect(json.status).toBe(0);
    expect(json.stdout).toBe(auditToJson(entries));
  });

  it('as a real process: --out writes a new owner-only file and never overwrites one', () => {
    const out = join(root, 'export.json');
    const first = usersProcess(dir, ['audit-export', '--format', 'json', '--out', out]);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(`wrote 4 audit entries (json) to ${out}\n`);
    expect(readFileSync(out, 'utf8')).toBe(auditToJson(entries));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    writeFileSync(out, 'kept');
    const again = usersProcess(dir, ['audit-export', '--format', 'json', '--out', out]);
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`pulse users: --out ${out} already exists; choose another name (an export never overwrites a file)\n`);
    expect(readFileSync(out, 'utf8')).toBe('kept');
  });

  it('refuses bad input in one line with exit code 2', async () => {
    for (const [args, message] of [
      [['audit-export'], 'pulse users: audit-export needs --format csv|json\n'],
      [['audit-export', '--format', 'xml'], 'pulse users: --format must be one of csv, json, not "xml"\n'],
      [['audit-export', '--format', 'csv', '--limit', '3'], 'pulse users: audit-export does not take --limit\n'],
      [['audit-export', '--format', 'csv', '--out', join(root, 'no-such-folder', 'x.csv')], `pulse users: --out ${join(root, 'no-such-folder', 'x.csv')}: its folder does not exist\n`],
      [['audit', '--format', 'csv'], 'pulse users: audit does not take --format\n'],
    ] as const) {
      const result = await usersHere(dir, [...args]);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toBe(message);
    }
  });
});

describe('a tampered audit log, found by the real commands', () => {
  let dir: string;
  beforeAll(async () => {
    const log = await logWith('tampered', SAMPLE);
    // Someone with the file removes the failed sign-in, bypassing the append-only triggers.
    log.db.exec('DROP TRIGGER audit_no_delete');
    log.db.prepare('DELETE FROM audit WHERE seq = 2').run();
    log.db.close();
    dir = log.dir;
  });

  it('npm run audit:verify names the first bad entry and exits 1', () => {
    const result = spawnSync('npm', ['run', '--silent', 'audit:verify'], {
      cwd: process.cwd(),
      env: { ...process.env, PULSE_DATA_DIR: dir, PULSE_CONFIG: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('pulse users: the audit log is broken at seq 3: entry 2 is missing: expected seq 2, found 3');
  });

  it('audit-export still writes what is there, warns on stderr and exits 1', async () => {
    const result = await usersHere(dir, ['audit-export', '--format', 'csv']);
    expect(result.status).toBe(1);
    expect(parseCsv(result.stdout).slice(1).map((r) => r[0])).toEqual(['1', '3', '4']);
    expect(result.stderr).toBe('pulse users: warning: the audit log is broken at seq 3: entry 2 is missing: expected seq 2, found 3\n');
  });
});
