// How the console and the incident page call the REST API: through the signed-in Session
// (CSRF token, and a 401 sends the page back to sign-in) when the page was given one; else
// through the same `apiRequest`, with the CSRF token read once from `/api/auth/me`. Effects
// only: what to ask and what to show is the caller's; what is allowed is the server's.
import type { IncidentSummary } from '../lib/incident';
import { ApiError, apiRequest, parseMe, type Session } from '../lib/session.svelte';

export type Api = <T>(path: string, init?: RequestInit) => Promise<T>;

export function consoleApi(session: Session | null): Api {
  if (session !== null) return (path, init) => session.api(path, init);
  const fetch = (input: string, init?: RequestInit) => globalThis.fetch(input, init);
  let csrf: Promise<string | null> | null = null;
  return async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const method = (init.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      csrf ??= apiRequest<unknown>(fetch, '/api/auth/me', {}, null).then((me) => parseMe(me)?.csrf ?? null);
      return apiRequest<T>(fetch, path, init, await csrf);
    }
    return apiRequest<T>(fetch, path, init, null);
  };
}

/** The message to show for a failed call: the server's own words, or why it could not be asked. */
export function problem(err: unknown): string {
  if (err instanceof ApiError) return err.message.charAt(0).toUpperCase() + err.message.slice(1);
  return 'Something went wrong on this page. Reload it and try again.';
}

export function isApiError(err: unknown, code: string): boolean {
  return err instanceof ApiError && err.code === code;
}

// Shapes of the answers the console reads (see server/api/*.ts and docs/backup.md).

export interface TimelineEntry {
  at: string;
  type: 'opened' | 'severity' | 'affected' | 'note' | 'reference' | 'grouped' | 'resolved';
  text: string;
  by?: string;
}

export interface IncidentDetail extends IncidentSummary {
  subjects: string[];
  timeline: TimelineEntry[];
  references: { system: string; reference: string; by: string; at: string }[];
}

export interface MaintenanceWindow {
  id: string;
  subject: string;
  start: string;
  end: string;
  author: string;
  reason: string;
  source: 'config' | 'api';
  active: boolean;
}

export type BackupAction = 'enter' | 'leave';

export interface BulkPreview {
  action: BackupAction;
  incidentId: number;
  count: number;
  practices: string[];
  skipped: { ods: string; reason: string }[];
}

export interface BulkResult {
  bulkId: string;
  action: BackupAction;
  switched: string[];
  skipped: { ods: string; code: string; message: string }[];
}

/** Enough of `BackupDetail` for the console to say what happened. */
export interface BackupDetail {
  ods: string;
  name: string;
  mode: 'normal' | 'entering' | 'backup' | 'leaving';
  since: string;
}
