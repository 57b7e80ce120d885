// One JSON POST with a time limit, for the action senders (webhook.ts, notify.ts): never
// throws, and tells an answer, a timeout and a failed connection apart, so each sender only
// decides what an answer means. Redirects are not followed (a receiver that moved is an
// error to fix, not a place to send signed payloads).
export type PostOutcome =
  | { kind: 'answered'; status: number; statusText: string; text: string }
  | { kind: 'timeout' }
  | { kind: 'failed'; why: string };

export async function postJson(req: {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}): Promise<PostOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), req.timeoutMs);
  try {
    const res = await (req.fetch ?? fetch)(req.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...req.headers },
      body: req.body,
      signal: controller.signal,
      redirect: 'manual',
    });
    let text = '';
    try {
      text = await res.text();
    } catch {
      // The status is what matters; an unreadable body is not a failure of its own.
    }
    return { kind: 'answered', status: res.status, statusText: res.statusText, text };
  } catch (err) {
    if (controller.signal.aborted) return { kind: 'timeout' };
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { kind: 'failed', why: e.cause?.code ?? e.cause?.message ?? e.message };
  } finally {
    clearTimeout(timer);
  }
}

/** 2xx: done. 408, 429 and 5xx may work later; any other status will not. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
