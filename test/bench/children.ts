// The benchmarks' child processes: spawned so the kernel kills them if the bench dies
// (setpriv --pdeathsig), tracked so every exit path can kill what is left, and stopped
// politely (SIGTERM, then SIGKILL after a grace period). Shared by bench:probes and
// bench:national. Not a test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SETPRIV = '/usr/bin/setpriv';

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** An IPC channel, with the child's stdout and stderr shown. */
  ipc?: boolean;
  /** Without IPC: show the child's stdout (stderr is piped either way). */
  stdout?: boolean;
}

export class Children {
  private readonly live = new Set<ChildProcess>();

  /** Spawns a child in the package root that dies with the bench. */
  spawn(command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const [file, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
    const child = spawn(file, argv, {
      cwd: ROOT,
      env: opts.env ?? process.env,
      stdio: opts.ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', opts.stdout ? 'inherit' : 'ignore', 'pipe'],
    });
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  /** SIGKILL to every child still running. */
  killAll(): void {
    for (const child of this.live) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    this.live.clear();
  }
}

/** Asks a child to stop (SIGTERM), then insists after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
