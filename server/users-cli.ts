// `npm run users -- <command>`: manages local accounts, and checks and exports the audit log, on the same
// SQLite file a running Pulse uses (WAL: safe beside it). Every change is audited, as
// `cli:<os user>`, in the same transaction as the change itself.
// Bad input ends with one line on stderr and exit code 2; never a stack trace. Generated
// passwords are printed once and stored only as scrypt hashes.
import { isEntryPoint } from '../probes/entry';
import { existsSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { auditAnchorPath, checkAuditAnchor, readAuditAnchor } from './auth/audit-anchor';
import { AUDIT_EXPORT_FORMATS, auditExport, readWholeAuditLog, type AuditExportFormat } from './auth/audit-export';
import { checkPasswordPolicy, hashPassword, type HashOptions } from './auth/password';
import { ROLES, type Role, type User } from './auth/types';
import type { Estate } from './config/estate';
import { migrate, openDatabase, type Db } from './store/sqlite/db';
import { ACCOUNT_MIGRATIONS, AccountStoreError, SqliteAccountStore, canonicalUsername } from './store/sqlite/accounts';

const USAGE = `usage: npm run users -- <command> [--data-dir DIR] [--config ESTATE.yaml]
  add <username> --role ops|manager|viewer [--icb CODE | --national] [--practices A81001,A81002]
      [--name "Jane Smith"] [--password-stdin]
  add-break-glass --icb CODE | --national
  list
  disable <username> | enable <username>
  reset <username> [--password-stdin]
  role <username> --role ops|manager|viewer [--icb CODE | --national] [--practices A81001,...]
  audit [--limit N]
  audit-verify
  audit-export --format csv|json [--out FILE]   the whole log, oldest first, for incident review`;

/** Bad input: reported as one line and exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

export interface CliContext {
  db: Db;
  store: SqliteAccountStore;
  /** The estate, when one was given: ICB and ODS codes are checked against it. */
  estate: Estate | null;
  /** `cli:<os user>`. */
  actor: string;
  now: () => number;
  out: (line: string) => void;
  /** Text to stdout exactly as given (an export), with no newline added. */
  write: (text: string) => void;
  err: (line: string) => void;
  /** One line from stdin (without echo on a terminal). */
  readPassword: () => Promise<string>;
  hashOptions?: HashOptions;
  /** The data folder, where a running Pulse anchors the audit head (audit-anchor.json). */
  dataDir?: string;
}

export interface ScopeFlags {
  icb?: string | undefined;
  national?: boolean | undefined;
  practices?: string | undefined;
}

const OPTIONS = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  role: { type: 'string' },
  icb: { type: 'string' },
  national: { type: 'boolean' },
  practices: { type: 'string' },
  name: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  limit: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
type OptionName = keyof typeof OPTIONS;

const COMMANDS: Record<string, { positionals: string[]; options: OptionName[]; writes: boolean }> = {
  add: { positionals: ['username'], options: ['role', 'icb', 'national', 'practices', 'name', 'password-stdin'], writes: true },
  'add-break-glass': { positionals: [], options: ['icb', 'national'], writes: true },
  list: { positionals: [], options: [], writes: false },
  disable: { positionals: ['username'], options: [], writes: true },
  enable: { positionals: ['username'], options: [], writes: true },
  reset: { positionals: ['username'], options: ['password-stdin'], writes: true },
  role: { positionals: ['username'], options: ['role', 'icb', 'national', 'practices'], writes: true },
  audit: { positionals: [], options: ['limit'], writes: false },
  'audit-verify': { positionals: [], options: [], writes: false },
  'audit-export': { positionals: [], options: ['format', 'out'], writes: false },
};

// ---- validation at the edge ----

const USERNAME = /^[a-z0-9][a-z0-9._@-]{1,63}$/;
const ODS = /^[A-Z]\d{5}$/;
const ICB = /^[A-Z0-9]{2,10}$/;
const BREAK_GLASS_PREFIX = 'breakglass-';

export function parseUsername(text: string): string {
  const username = canonicalUsername(text);
  if (!USERNAME.test(username)) {
    throw new UsageError(
      `"${printable(text)}" is not a valid username: 2-64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit`,
    );
  }
  return username;
}

export function parseRole(text: string | undefined): Role {
  if (text === undefined) throw new UsageError(`--role is required (${ROLES.join(', ')})`);
  const role = ROLES.find((r) => r === text.trim().toLowerCase());
  if (!role) throw new UsageError(`--role must be one of ${ROLES.join(', ')}, not "${printable(text)}"`);
  return role;
}

function estateIcbs(estate: Estate): string[] {
  const icbs = new Set<string>();
  for (const p of estate.practices.values()) if (p.icb) icbs.add(p.icb);
  return [...icbs].sort();
}

/** An ICB code, as the estate spells it when there is one. */
export function parseIcb(text: string, estate: Estate | null): string {
  const code = text.trim().toUpperCase();
  if (!ICB.test(code)) throw new UsageError(`--icb "${printable(text)}" is not an ICB code such as QWO`);
  if (!estate) return code;
  const icbs = estateIcbs(estate);
  const known = icbs.find((i) => i.toUpperCase() === code);
  if (!known) {
    throw new UsageError(`unknown ICB "${code}" in ${estate.source} (known: ${icbs.join(', ') || 'none: no practice names an ICB'})`);
  }
  return known;
}

export function parsePractices(text: string, estate: Estate | null): string[] {
  const codes = [...new Set(text.split(',').map((c) => c.trim().toUpperCase()).filter((c) => c !== ''))];
  if (codes.length === 0) throw new UsageError('--practices needs at least one ODS code, e.g. A81001,A81002');
  for (const code of codes) {
    if (!ODS.test(code)) throw new UsageError(`--practices: "${printable(code)}" is not an ODS practice code such as A81001`);
    if (estate && !estate.practices.has(code)) throw new UsageError(`--practices: unknown practice ${code} in ${estate.source}`);
  }
  return codes;
}

/**
 * The scope a role needs: ops an ICB (or, only when asked with --national, every ICB);
 * managers at least one practice; viewers an ICB or practices.
 */
export function resolveScope(
  role: Role,
  flags: ScopeFlags,
  estate: Estate | null,
  current?: Pick<User, 'icb' | 'practices'>,
): { icb: string | null; practices: string[] } {
  if (flags.national && role !== 'ops') throw new UsageError('--national is for ops only');
  if (flags.national && flags.icb !== undefined) throw new UsageError('give either --icb or --national, not both');
  const icb = flags.icb !== undefined ? parseIcb(flags.icb, estate) : flags.national ? null : (current?.icb ?? null);
  let practices = flags.practices !== undefined ? parsePractices(flags.practices, estate) : (current?.practices ?? []);

  if (role === 'ops') {
    if (flags.practices !== undefined) throw new UsageError('ops covers every practice of its ICB; --practices is for managers and viewers');
    practices = [];
    // A national operations account is never made by leaving a flag out.
    if (icb === null && !flags.national) throw new UsageError('an ops user needs --icb CODE, or --national for every ICB');
  } else if (role === 'manager') {
    if (practices.length === 0) throw new UsageError('a manager needs at least one practice: --practices A81001,A81002');
  } else if (icb === null && practices.length === 0) {
    throw new UsageError('a viewer needs --icb CODE or --practices A81001,A81002');
  }
  if (estate && icb !== null) {
    for (const ods of practices) {
      const practiceIcb = estate.practices.get(ods)?.icb ?? null;
      if (practiceIcb !== icb) throw new UsageError(`--practices: ${ods} is in ICB ${practiceIcb ?? '(none)'}, not ${icb}`);
    }
  }
  return { icb, practices };
}

function parseName(text: string | undefined, username: string): string {
  if (text === undefined) return username;
  const name = text.trim();
  // eslint-disable-next-line no-control-regex
  if (name === '' || name.length > 100 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new UsageError('--name must be 1-100 characters, without control characters');
  }
  return name;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 20;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, not "${printable(text)}"`);
  return n;
}

/** Control characters (terminal escapes in a name or an audited username) shown as `?`. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

// ---- passwords ----

// No 0/o, 1/l/i: a break-glass password is read off paper and typed under pressure.
const PASSWORD_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** Random groups of five from a 31-letter alphabet: 4 groups ≈ 99 bits, 6 ≈ 148 bits. */
export function generatePassword(groups: number, username: string): string {
  for (;;) {
    const password = Array.from({ length: groups }, () =>
      Array.from({ length: 5 }, () => PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)]).join(''),
    ).join('-');
    if (checkPasswordPolicy(password, username) === null) return password;
  }
}

async function newPassword(ctx: CliContext, username: string, fromStdin: boolean): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: generatePassword(4, username), generated: true };
  const password = await ctx.readPassword();
  const problem = checkPasswordPolicy(password, username);
  if (problem) throw new UsageError(problem);
  return { password, generated: false };
}

/** Reads one line from stdin: piped, or typed without echo at a terminal. */
export async function readPasswordLine(stdin: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  let line: string;
  if (stdin.isTTY) {
    prompt.write('password: ');
    const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
    const rl = createInterface({ input: stdin, output: muted, terminal: true });
    line = await new Promise<string>((resolveLine) => rl.question('', resolveLine));
    rl.close();
    prompt.write('\n');
  } else {
    line = await new Promise<string>((resolveLine, reject) => {
      let text = '';
      const finish = () => {
        stdin.off('data', onData);
        stdin.off('end', finish);
        stdin.off('error', reject);
        stdin.pause();
        stdin.destroy();
        resolveLine(text.split('\n')[0]!);
      };
      const onData = (chunk: Buffer | string) => {
        text += chunk.toString();
        if (text.includes('\n') || text.length > 4096) finish();
      };
      stdin.on('data', onData);
      stdin.once('end', finish);
      stdin.once('error', reject);
    });
  }
  line = line.replace(/\r$/, '');
  if (line === '') throw new UsageError('--password-stdin: no password on stdin');
  if (line.length > 1024) throw new UsageError('--password-stdin: the line is too long to be a password');
  return line;
}

// ---- commands ----

/** Runs `fn` (the change and its audit entry) as one transaction: both happen, or neither. */
async function atomically<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = await fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

async function existingUser(ctx: CliContext, name: string): Promise<User> {
  const username = parseUsername(name);
  const found = await ctx.store.userForSignIn(username);
  if (!found) throw new UsageError(`no user "${username}" (see: npm run users -- list)`);
  return found.user;
}

function describeScope(u: Pick<User, 'role' | 'icb' | 'practices'>): string {
  if (u.role === 'ops') return u.icb ? `ops for ICB ${u.icb}` : 'ops for every ICB (national)';
  const parts = [u.icb ? `ICB ${u.icb}` : null, u.practices.length ? `${u.practices.length} practice(s)` : null].filter(Boolean);
  return `${u.role} for ${parts.join(' and ')}`;
}

export async function addUser(
  ctx: CliContext,
  args: { username: string; role?: string | undefined; name?: string | undefined; passwordStdin?: boolean | undefined } & ScopeFlags,
): Promise<number> {
  const username = parseUsername(args.username);
  if (username.startsWith(BREAK_GLASS_PREFIX)) throw new UsageError(`usernames starting "${BREAK_GLASS_PREFIX}" are kept for add-break-glass`);
  const role = parseRole(args.role);
  const scope = resolveScope(role, args, ctx.estate);
  const displayName = parseName(args.name, username);
  if (await ctx.store.userForSignIn(username)) throw new UsageError(`user "${username}" already exists`);
  const { password, generated } = await newPassword(ctx, username, args.passwordStdin === true);
  const passwordHash = await hashPassword(password, ctx.hashOptions);
  const user = await atomically(ctx.db, async () => {
    const created = await ctx.store.createUser({ username, displayName, role, ...scope, passwordHash, now: ctx.now() });
    await ctx.store.appendAudit({
      at: ctx.now(),
      actor: ctx.actor,
      action: 'user.create',
      subject: `user:${username}`,
      detail: { displayName, role, icb: scope.icb, practices: scope.practices, source: 'local', password: generated ? 'generated' : 'stdin' },
    });
    return created;
  });
  ctx.out(`created ${user.username}: ${describeScope(user)}`);
  if (generated) ctx.out(`password for ${user.username} (shown once, give it to them privately): ${password}`);
  return 0;
}

export async function addBreakGlass(ctx: CliContext, args: Pick<ScopeFlags, 'icb' | 'national'>): Promise<number> {
  if (args.icb === undefined && !args.national) throw new UsageError('add-break-glass needs --icb CODE (or --national)');
  const scope = resolveScope('ops', args, ctx.estate);
  const username = `${BREAK_GLASS_PREFIX}${scope.icb === null ? 'national' : scope.icb.toLowerCase()}`;
  if (await ctx.store.userForSignIn(username)) {
    throw new UsageError(`${username} already exists; to issue a new password: npm run users -- reset ${username}`);
  }
  const password = generatePassword(6, username);
  const passwordHash = await hashPassword(password, ctx.hashOptions);
  const displayName = `Break-glass (${scope.icb ?? 'national'})`;
  await atomically(ctx.db, async () => {
    await ctx.store.createUser({ username, displayName, role: 'ops', ...scope, passwordHash, breakGlass: true, now: ctx.now() });
    await ctx.store.appendAudit({
      at: ctx.now(),
      actor: ctx.actor,
      action: 'user.breakglass.create',
      subject: `user:${username}`,
      detail: { role: 'ops', icb: scope.icb },
    });
  });
  ctx.out(`created break-glass account ${username}: ops for ${scope.icb ? `ICB ${scope.icb}` : 'every ICB'}`);
  ctx.out(`password (shown once): ${password}`);
  ctx.out('');
  ctx.out('Seal it now: write the username and password on paper, put it in an envelope, seal it and');
  ctx.out('sign across the seal (two people), and lock it away where the on-call lead can reach it.');
  ctx.out('It signs in without the identity provider, and every sign-in with it raises an alert.');
  ctx.out(`After any use, or if the seal is broken: npm run users -- reset ${username}`);
  return 0;
}

export async function listUsers(ctx: CliContext): Promise<number> {
  const users = await ctx.store.listUsers();
  if (users.length === 0) {
    ctx.out('no users yet (add one: npm run users -- add <username> --role …)');
    return 0;
  }
  const rows = [
    ['USERNAME', 'NAME', 'ROLE', 'ICB', 'PRACTICES', 'DISABLED', 'BREAK-GLASS', 'SOURCE'],
    ...users.map((u) => [
      u.username,
      u.displayName,
      u.role,
      u.icb ?? (u.role === 'ops' ? '(national)' : '-'),
      String(u.practices.length),
      u.disabled ? 'yes' : 'no',
      u.breakGlass ? 'yes' : 'no',
      u.source,
    ]),
  ].map((row) => row.map(printable));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) ctx.out(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  return 0;
}

export async function setDisabled(ctx: CliContext, args: { username: string; disabled: boolean }): Promise<number> {
  const user = await existingUser(ctx, args.username);
  const verb = args.disabled ? 'disabled' : 'enabled';
  if (user.disabled === args.disabled) {
    ctx.out(`${user.username} is already ${verb}`);
    return 0;
  }
  const ended = await atomically(ctx.db, async () => {
    await ctx.store.updateUser(user.id, { disabled: args.disabled });
    const sessionsEnded = args.disabled ? await ctx.store.revokeSessions(user.id, ctx.now()) : 0;
    await ctx.store.appendAudit({
      at: ctx.now(),
      actor: ctx.actor,
      action: args.disabled ? 'user.disable' : 'user.enable',
      subject: `user:${user.username}`,
      detail: args.disabled ? { sessionsEnded } : {},
    });
    return sessionsEnded;
  });
  ctx.out(args.disabled ? `disabled ${user.username}; signed out of ${ended} session(s)` : `enabled ${user.username}`);
  return 0;
}

export async function resetPassword(ctx: CliContext, args: { username: string; passwordStdin?: boolean | undefined }): Promise<number> {
  const user = await existingUser(ctx, args.username);
  if (user.source !== 'local') throw new UsageError(`${user.username} signs in through the identity provider and has no local password`);
  const groups = user.breakGlass ? 6 : 4;
  const { password, generated } = args.passwordStdin
    ? await newPassword(ctx, user.username, true)
    : { password: generatePassword(groups, user.username), generated: true };
  const passwordHash = await hashPassword(password, ctx.hashOptions);
  const ended = await atomically(ctx.db, async () => {
    await ctx.store.updateUser(user.id, { passwordHash });
    const sessionsEnded = await ctx.store.revokeSessions(user.id, ctx.now());
    await ctx.store.appendAudit({
      at: ctx.now(),
      actor: ctx.actor,
      action: 'user.password.reset',
      subject: `user:${user.username}`,
      detail: { password: generated ? 'generated' : 'stdin', sessionsEnded },
    });
    return sessionsEnded;
  });
  ctx.out(`new password set for ${user.username}; signed out of ${ended} session(s)`);
  if (generated) ctx.out(`password for ${user.username} (shown once): ${password}`);
  if (user.breakGlass) ctx.out('Seal it in a new envelope, signed across the seal, and lock it away.');
  return 0;
}

export async function changeRole(ctx: CliContext, args: { username: string; role?: string | undefined } & ScopeFlags): Promise<number> {
  const user = await existingUser(ctx, args.username);
  if (user.breakGlass) throw new UsageError(`${user.username} is a break-glass account: its role and ICB are fixed`);
  const role = parseRole(args.role);
  const scope = resolveScope(role, args, ctx.estate, user);
  const before = { role: user.role, icb: user.icb, practices: user.practices };
  const after = { role, ...scope };
  if (JSON.stringify(before) === JSON.stringify(after)) {
    ctx.out(`${user.username} is already ${describeScope(user)}; nothing changed`);
    return 0;
  }
  const updated = await atomically(ctx.db, async () => {
    const changed = await ctx.store.updateUser(user.id, after);
    await ctx.store.appendAudit({
      at: ctx.now(),
      actor: ctx.actor,
      action: 'user.role.change',
      subject: `user:${user.username}`,
      detail: { before, after },
    });
    return changed;
  });
  ctx.out(`${updated.username} is now ${describeScope(updated)}`);
  return 0;
}

export async function showAudit(ctx: CliContext, args: { limit?: string | undefined }): Promise<number> {
  const entries = await ctx.store.auditEntries(parseLimit(args.limit), 0);
  if (entries.length === 0) ctx.out('the audit log is empty');
  for (const e of entries) {
    ctx.out(
      printable(
        [`#${e.seq}`, new Date(e.at).toISOString(), e.actor, e.action, e.subject ?? '-', JSON.stringify(e.detail)].join('  '),
      ),
    );
  }
  return 0;
}

/** Exit 0 when the chain is intact; 1, naming the first bad entry, when it is not. */
export async function verifyAuditLog(ctx: CliContext): Promise<number> {
  const result = await ctx.store.verifyAudit();
  if (!result.ok) {
    ctx.err(`pulse users: the audit log is broken at seq ${result.seq}: ${result.reason}`);
    return 1;
  }
  const head = await ctx.store.auditHead();
  if (ctx.dataDir === undefined) {
    ctx.out(`audit log intact: ${result.count} entries; head #${head.seq} ${head.hash}`);
    return 0;
  }
  // The chain cannot show its newest entries were cut off; the head Pulse anchored outside the table can.
  const read = readAuditAnchor(ctx.dataDir);
  if (read.kind === 'unreadable') {
    ctx.err(`pulse users: the audit anchor cannot be read: ${read.reason}`);
    return 1;
  }
  if (read.kind === 'ok') {
    const hashAt = (seq: number) => (ctx.db.prepare('SELECT hash FROM audit WHERE seq = ?').get(seq) as { hash: string } | undefined)?.hash;
    const checked = checkAuditAnchor(read.anchor, head.seq, hashAt);
    if (!checked.ok) {
      ctx.err(`pulse users: ${checked.reason}`);
      return 1;
    }
    ctx.out(`audit log intact: ${result.count} entries; head #${head.seq} ${head.hash}`);
    ctx.out(
      `anchored head #${read.anchor.seq} (${new Date(read.anchor.at).toISOString()}) matches; ${checked.lag} ${checked.lag === 1 ? 'entry' : 'entries'} written since`,
    );
    return 0;
  }
  ctx.out(`audit log intact: ${result.count} entries; head #${head.seq} ${head.hash}`);
  ctx.out(`no anchor at ${auditAnchorPath(ctx.dataDir)} yet (a running Pulse writes one with each state save): the chain alone cannot show the newest entries were cut off`);
  return 0;
}

function parseFormat(text: string | undefined): AuditExportFormat {
  if (text === undefined) throw new UsageError(`audit-export needs --format ${AUDIT_EXPORT_FORMATS.join('|')}`);
  const format = AUDIT_EXPORT_FORMATS.find((f) => f === text.trim().toLowerCase());
  if (!format) throw new UsageError(`--format must be one of ${AUDIT_EXPORT_FORMATS.join(', ')}, not "${printable(text)}"`);
  return format;
}

/**
 * The whole log, oldest first, as CSV or JSON: to stdout, or to a new file (never over an
 * existing one; readable by its owner only). Exit 0; 1 when the chain does not verify (the
 * file is still written: that is when a reviewer needs it most), naming the first bad entry.
 */
export async function exportAuditLog(ctx: CliContext, args: { format?: string | undefined; out?: string | undefined }): Promise<number> {
  const format = parseFormat(args.format);
  if (args.out !== undefined && args.out.trim() === '') throw new UsageError('--out needs a file name');
  const entries = await readWholeAuditLog((limit, offset) => ctx.store.auditEntries(limit, offset));
  const verified = await ctx.store.verifyAudit();
  const { body } = auditExport(format, entries);
  if (args.out === undefined) {
    ctx.write(body);
  } else {
    const file = resolve(args.out);
    try {
      writeFileSync(file, body, { flag: 'wx', mode: 0o600 });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EEXIST') throw new UsageError(`--out ${file} already exists; choose another name (an export never overwrites a file)`);
      if (code === 'ENOENT') throw new UsageError(`--out ${file}: its folder does not exist`);
      if (code === 'EACCES' || code === 'EPERM') throw new UsageError(`--out ${file}: permission denied`);
      throw e;
    }
    ctx.out(`wrote ${entries.length} audit entries (${format}) to ${file}`);
  }
  // On stderr, so an export to stdout stays clean.
  if (!verified.ok) {
    ctx.err(`pulse users: warning: the audit log is broken at seq ${verified.seq}: ${verified.reason}`);
    return 1;
  }
  return 0;
}

// ---- entry ----

export interface CliIo {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  /** Raw stdout for an export; by default `out` without the final newline. */
  write?: (text: string) => void;
  err: (line: string) => void;
  readPassword: () => Promise<string>;
  actor?: string;
  now?: () => number;
  hashOptions?: HashOptions;
}

function osActor(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
  return `cli:${printable(name).slice(0, 64) || 'unknown'}`;
}

/** Runs one command line; returns the exit code. Bad input → 2, a broken audit chain → 1. */
export async function runUsersCli(argv: string[], io: CliIo): Promise<number> {
  let db: Db | null = null;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError(`${(e as Error).message.split(/\.\s|\n/)[0]} (see: npm run users -- --help)`);
    }
    const { values, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (values.help || command === 'help') {
      io.out(USAGE);
      return 0;
    }
    if (command === undefined) throw new UsageError('no command given (see: npm run users -- --help)');
    const spec = COMMANDS[command];
    if (!spec) throw new UsageError(`unknown command "${printable(command)}" (see: npm run users -- --help)`);
    for (const name of Object.keys(values) as OptionName[]) {
      if (name !== 'data-dir' && name !== 'config' && !spec.options.includes(name)) {
        throw new UsageError(`${command} does not take --${name}`);
      }
    }
    if (rest.length !== spec.positionals.length) {
      throw new UsageError(
        spec.positionals.length ? `${command} needs <${spec.positionals.join('> <')}>` : `${command} takes no arguments, got "${printable(rest.join(' '))}"`,
      );
    }

    const configFile = values.config ?? io.env.PULSE_CONFIG;
    let estate: Estate | null = null;
    if (configFile) {
      // Loaded only when asked for: the estate module brings every check kind with it.
      const { ConfigError, loadEstateFile } = await import('./config/estate');
      try {
        estate = loadEstateFile(configFile);
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
    }

    const dataDir = resolve(values['data-dir'] ?? io.env.PULSE_DATA_DIR ?? './data');
    const file = join(dataDir, 'pulse.db');
    const isNew = !existsSync(file);
    if (isNew && !spec.writes) throw new UsageError(`no Pulse database at ${file} (set --data-dir or PULSE_DATA_DIR)`);
    db = openDatabase(dataDir);
    migrate(db, ACCOUNT_MIGRATIONS);
    const ctx: CliContext = {
      db,
      store: new SqliteAccountStore(db),
      estate,
      actor: io.actor ?? osActor(),
      now: io.now ?? Date.now,
      out: io.out,
      write: io.write ?? ((text) => io.out(text.replace(/\n$/, ''))),
      err: io.err,
      readPassword: io.readPassword,
      dataDir,
      ...(io.hashOptions ? { hashOptions: io.hashOptions } : {}),
    };
    const username = rest[0] ?? '';
    const scope = { icb: values.icb, national: values.national, practices: values.practices };
    const code = await run(ctx, command, username, values, scope);
    // Said after the fact, so a mistyped data folder is noticed (and bad input stays one line).
    if (isNew && code === 0) io.err(`pulse users: note: this created a new database at ${file}`);
    return code;
  } catch (e) {
    if (e instanceof UsageError || e instanceof AccountStoreError) {
      io.err(`pulse users: ${e.message}`);
      return 2;
    }
    const err = e as { code?: string; message?: string };
    io.err(`pulse users: ${err.code ? `${err.code}: ` : ''}${printable(String(err.message ?? e)).split('\n')[0]}`);
    return 1;
  } finally {
    db?.close();
  }
}

/** Dispatches one parsed command. */
async function run(
  ctx: CliContext,
  command: string,
  username: string,
  values: {
    role?: string | undefined;
    name?: string | undefined;
    'password-stdin'?: boolean | undefined;
    limit?: string | undefined;
    format?: string | undefined;
    out?: string | undefined;
  },
  scope: ScopeFlags,
): Promise<number> {
  switch (command) {
    case 'add':
      return await addUser(ctx, { username, role: values.role, name: values.name, passwordStdin: values['password-stdin'], ...scope });
    case 'add-break-glass':
      return await addBreakGlass(ctx, scope);
    case 'list':
      return await listUsers(ctx);
    case 'disable':
    case 'enable':
      return await setDisabled(ctx, { username, disabled: command === 'disable' });
    case 'reset':
      return await resetPassword(ctx, { username, passwordStdin: values['password-stdin'] });
    case 'role':
      return await changeRole(ctx, { username, role: values.role, ...scope });
    case 'audit':
      return await showAudit(ctx, { limit: values.limit });
    case 'audit-verify':
      return await verifyAuditLog(ctx);
    case 'audit-export':
      return await exportAuditLog(ctx, { format: values.format, out: values.out });
    default:
      throw new UsageError(`unknown command "${printable(command)}"`);
  }
}

if (isEntryPoint(import.meta.url)) {
  void runUsersCli(process.argv.slice(2), {
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
    write: (text) => process.stdout.write(text),
    err: (line) => process.stderr.write(`${line}\n`),
    readPassword: () => readPasswordLine(),
  }).then((code) => {
    process.exitCode = code;
  });
}
