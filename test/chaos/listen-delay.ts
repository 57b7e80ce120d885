// Preloaded into a Pulse server by the chaos harness (`node --import tsx --import <this>`):
// holds back the process's first TCP listen by PULSE_CHAOS_LISTEN_DELAY_MS. Pulse has built
// its app and restored its state, but nobody can reach it for that long — a slow restart
// (a long restore, a slow disk, a host that stalls at boot). Changes nothing else. Test-only:
// the harness puts it on the server's command line; nothing in Pulse imports it.
import net from 'node:net';

const delayMs = Number(process.env.PULSE_CHAOS_LISTEN_DELAY_MS ?? '0');

if (Number.isFinite(delayMs) && delayMs > 0) {
  const listen = net.Server.prototype.listen;
  let held = false;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (held) return listen.apply(this, args as Parameters<typeof listen>);
    held = true;
    process.stderr.write(`chaos: holding back this process's first listen for ${delayMs} ms\n`);
    setTimeout(() => listen.apply(this, args as Parameters<typeof listen>), delayMs);
    return this;
  } as typeof listen;
}
