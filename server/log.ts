// Structured JSON logs, one object a line. Never pass secrets or tokens in fields.
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(out: NodeJS.WritableStream = process.stdout, minLevel: LogLevel = 'info'): Logger {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const min = order.indexOf(minLevel);
  return (level, message, fields) => {
    if (order.indexOf(level) < min) return;
    out.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
  };
}

export const silentLogger: Logger = () => {};

/**
 * One log line per API request, with a request id (also sent back as X-Request-Id) so an
 * operator can find a user's report in the log. Never logs bodies, query strings or headers:
 * they can carry tokens (a display link's secret is in its URL).
 */
export function requestLog(log: Logger): MiddlewareHandler {
  return async (c, next) => {
    const id = randomUUID();
    c.header('X-Request-Id', id);
    const started = performance.now();
    await next();
    const path = c.req.path;
    // Health probes are not logged (a proxy may ask every few seconds), unless they fail.
    if (path.startsWith('/api/') || (path === '/readyz' && c.res.status >= 500)) {
      // Workstation heartbeats are most of all requests (99.8 % of the lines at 6,300 practices):
      // debug unless they fail; refusals are counted in pulse_heartbeats_rejected_total.
      const heartbeat = path.startsWith('/api/heartbeats/');
      const level = path === '/readyz' ? 'warn' : c.res.status >= 500 ? 'error' : heartbeat ? 'debug' : 'info';
      log(level, 'request', {
        requestId: id,
        method: c.req.method,
        path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      });
    }
  };
}
