// The request log: one line per API request at a level that says whether anyone need read it.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requestLog, type LogLevel } from '../../server/log';

function app() {
  const lines: { level: LogLevel; path: unknown; status: unknown }[] = [];
  const a = new Hono();
  a.use('*', requestLog((level, _message, fields) => lines.push({ level, path: fields?.path, status: fields?.status })));
  a.get('/api/practices', (c) => c.json([]));
  a.post('/api/heartbeats/:ods', (c) => {
    if (c.req.param('ods') === 'BROKEN') throw new Error('boom');
    return c.body(null, c.req.param('ods') === 'FLOOD' ? 429 : 202);
  });
  a.get('/healthz', (c) => c.text('ok'));
  return { a, lines };
}

describe('request log', () => {
  it('logs API requests at info, heartbeats at debug unless the server failed, health probes not at all', async () => {
    const { a, lines } = app();
    await a.request('/api/practices');
    await a.request('/api/heartbeats/A81001', { method: 'POST' });
    await a.request('/api/heartbeats/FLOOD', { method: 'POST' });
    await a.request('/api/heartbeats/BROKEN', { method: 'POST' });
    await a.request('/healthz');
    expect(lines).toEqual([
      { level: 'info', path: '/api/practices', status: 200 },
      { level: 'debug', path: '/api/heartbeats/A81001', status: 202 },
      { level: 'debug', path: '/api/heartbeats/FLOOD', status: 429 },
      { level: 'error', path: '/api/heartbeats/BROKEN', status: 500 },
    ]);
  });
});
