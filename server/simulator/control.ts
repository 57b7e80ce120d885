// The simulator's control API: a small Hono app to list, set and clear faults, play
// scenarios, see the simulated workstation agents and fetch the simulated estate, served
// on loopback only. It drives a
// Simulator handed to it and holds no state of its own. Must never bind anything but
// 127.0.0.1. Never imported by production code.
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { z } from 'zod';
import { LOOPBACK } from './endpoint';
import { describeIssue, faultRequestSchema } from './faults';
import { SimulatorError, type Simulator, type SimulatorErrorCode } from './types';

/** Longest a scenario may be played for: a day (and well inside setTimeout's range). */
export const MAX_SCENARIO_MS = 24 * 60 * 60_000;

const playSchema = z
  .object({ durationMs: z.number().int().min(1).max(MAX_SCENARIO_MS).optional() })
  .strict();

type ErrorStatus = 400 | 404 | 409 | 500;

function problem(c: Context, status: ErrorStatus, code: string, message: string, field?: string) {
  return c.json({ error: { code, message, ...(field ? { field } : {}) } }, status);
}

const statusFor: Record<SimulatorErrorCode, ErrorStatus> = {
  BAD_OPTIONS: 400,
  BAD_FAULT: 400,
  UNKNOWN_TARGET: 400,
  UNKNOWN_SCENARIO: 404,
  CLOSED: 409,
  EADDRINUSE: 500,
  LISTEN_FAILED: 500,
};

/** A JSON body, `{}` when empty; `undefined` when it is not JSON. */
async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function createControlApp(sim: Simulator): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof SimulatorError) return problem(c, statusFor[err.code], err.code, err.message, err.field);
    process.stderr.write(`simulator control: ${err.message}\n`);
    return problem(c, 500, 'INTERNAL', 'the simulator could not do that; see its stderr');
  });
  app.notFound((c) => problem(c, 404, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`));

  app.get('/faults', (c) => c.json(sim.faults()));

  // The practices' phone systems and websites, as Pulse's backup-mode webhooks reach them.
  app.post('/continuity/:action', (c) => sim.continuity.handle(c));
  app.get('/continuity', (c) => c.json(sim.continuity.deliveries()));

  app.post('/faults', async (c) => {
    const body = await jsonBody(c);
    if (body === undefined) return problem(c, 400, 'BAD_REQUEST', 'body: expected a JSON object', 'body');
    const parsed = faultRequestSchema.safeParse(body);
    if (!parsed.success) {
      const { field, message } = describeIssue(parsed.error);
      return problem(c, 400, 'BAD_REQUEST', message, field);
    }
    const { target, mode, ...opts } = parsed.data;
    await sim.fail(target, mode, opts);
    return c.json({ target, fault: sim.faults()[target] ?? null }, 201);
  });

  app.delete('/faults', async (c) => {
    await sim.restoreAll();
    return c.json({ faults: sim.faults() });
  });

  app.delete('/faults/:target', async (c) => {
    const target = c.req.param('target');
    try {
      await sim.restore(target);
    } catch (err) {
      if (err instanceof SimulatorError && err.code === 'UNKNOWN_TARGET') {
        return problem(c, 404, err.code, err.message, 'target');
      }
      throw err;
    }
    return c.json({ target, faults: sim.faults() });
  });

  app.get('/scenarios', (c) => c.json({ scenarios: sim.scenarios() }));

  app.post('/scenarios/:name', async (c) => {
    const name = c.req.param('name');
    const body = await jsonBody(c);
    if (body === undefined) return problem(c, 400, 'BAD_REQUEST', 'body: expected a JSON object', 'body');
    const parsed = playSchema.safeParse(body);
    if (!parsed.success) {
      const { field, message } = describeIssue(parsed.error);
      return problem(c, 400, 'BAD_REQUEST', message, field);
    }
    await sim.play(name, parsed.data);
    const info = sim.scenarios().find((s) => s.name === name);
    return c.json({ scenario: name, runningUntil: info?.runningUntil ?? null, faults: sim.faults() }, 202);
  });

  // Simulated workstation agents per practice: agents, silent, heartbeats sent and failed.
  app.get('/agents', (c) => c.json(sim.agents()));

  app.get('/estate', (c) => c.json({ services: sim.services, practices: sim.practices }));

  app.get('/estate.yaml', (c) => {
    // estateYaml checks the durations and names the bad one (a 400 via onError).
    const degradedAfter = c.req.query('degradedAfter');
    const tokenEnv = c.req.query('fleetTokenEnv');
    const yaml = sim.estateYaml({
      interval: c.req.query('interval'),
      timeout: c.req.query('timeout'),
      ...(degradedAfter === undefined ? {} : { degradedAfter: degradedAfter === 'off' ? false : degradedAfter }),
      ...(tokenEnv === undefined ? {} : { fleet: { tokenEnv, interval: c.req.query('fleetInterval') } }),
    });
    return c.body(yaml, 200, { 'content-type': 'application/yaml; charset=utf-8' });
  });

  return app;
}

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the app on 127.0.0.1:`port` (0 = ephemeral); rejects when it cannot listen. */
export function serveControl(app: Hono, port: number): Promise<ControlServer> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<Socket>();
    const server = serve({ fetch: app.fetch, hostname: LOOPBACK, port }, (info) => {
      server.off('error', onError);
      resolve({
        url: `http://${LOOPBACK}:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          }),
      });
    }) as Server;
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const onError = (err: NodeJS.ErrnoException) => {
      const code = err.code === 'EADDRINUSE' ? 'EADDRINUSE' : 'LISTEN_FAILED';
      reject(new SimulatorError(code, `control API could not listen on ${LOOPBACK}:${port}: ${err.message}`, 'controlPort'));
    };
    server.once('error', onError);
  });
}
