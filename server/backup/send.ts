// Sends one outbox action by its kind: a signed webhook, or a notification through the
// configured sender. Everything it needs was written into the action's payload when the
// switch was recorded; only secrets are read now (from the environment or a file), so a
// rotated secret is used and none is ever stored in the outbox.
import { resolveSecret, type ResolvedSecret, type SecretRef } from '../../probes/secrets';
import type { OutboxItem } from '../store/sqlite/outbox';
import type { Logger } from '../log';
import type { BackupConfig } from './config';
import { govukNotifySender, logSender, type NotifySender } from './notify';
import type { NotifyPayload, WebhookPayload } from './service';
import { sendWebhook, type SendResult } from './webhook';

/** A secret read on the Pulse server (resolveSecret words its failures for a probe worker). */
async function serverSecret(ref: SecretRef, now: () => number): Promise<ResolvedSecret> {
  const secret = await resolveSecret(ref, now);
  return secret.ok ? secret : { ok: false, detail: secret.detail.replace(/ on this worker$/, ' on the Pulse server') };
}

export interface ActionSenderDeps {
  notify: NotifySender;
  now: () => number;
  fetch?: typeof fetch;
  /** Counted per action kind and result (pulse_backup_actions_total). */
  onResult?: (kind: string, ok: boolean) => void;
}

export function actionSender(deps: ActionSenderDeps): (item: OutboxItem) => Promise<SendResult> {
  return async (item) => {
    const result = await sendOne(item, deps);
    deps.onResult?.(item.kind, result.ok);
    return result;
  };
}

async function sendOne(item: OutboxItem, deps: ActionSenderDeps): Promise<SendResult> {
  if (item.kind === 'webhook') {
    const p = item.payload as WebhookPayload;
    const secret = await serverSecret(p.secret, deps.now);
    // Retryable: the secret may be provided (file mounted, variable set on restart) before the give-up limit.
    if (!secret.ok) return { ok: false, retryable: true, error: `webhook secret: ${secret.detail}` };
    return sendWebhook({
      url: p.url,
      secret: secret.value,
      body: p.body,
      idempotencyKey: item.idempotencyKey,
      now: deps.now,
      timeoutMs: p.timeoutMs,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  }
  if (item.kind === 'notify') {
    const p = item.payload as NotifyPayload;
    return deps.notify.send({
      channel: p.channel,
      to: p.to,
      templateId: p.templateId,
      personalisation: p.personalisation,
      reference: item.idempotencyKey,
    });
  }
  return { ok: false, retryable: false, error: `unknown action kind "${item.kind}"` };
}

/**
 * The notification sender the estate file configures. GOV.UK Notify's key is read when a
 * message is sent (env or file, so a rotated key is picked up); a missing or malformed key
 * fails that action with the reason, never the key.
 */
export function configuredNotifySender(
  config: BackupConfig['notify'],
  log: Logger,
  now: () => number,
): NotifySender {
  if (config.sender === 'log') {
    return logSender((entry) => log('info', 'backup mode: notification (log sender; nothing was sent)', entry));
  }
  let cached: { key: string; sender: NotifySender } | null = null;
  return {
    kind: 'govuk-notify',
    async send(message) {
      const key = await serverSecret(config.apiKey, now);
      if (!key.ok) return { ok: false, retryable: true, error: `GOV.UK Notify API key: ${key.detail}` };
      if (cached?.key !== key.value) {
        try {
          cached = { key: key.value, sender: govukNotifySender({ apiKey: key.value.trim(), baseUrl: config.baseUrl, now }) };
        } catch (err) {
          return { ok: false, retryable: false, error: `GOV.UK Notify API key: ${err instanceof Error ? err.message : String(err)}` };
        }
      }
      return cached.sender.send(message);
    },
  };
}
