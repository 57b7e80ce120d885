import { describe, expect, it } from 'vitest';
import { parseRetentionDuration, pruneOnce, resolveRetention, retentionSchema } from '../../../server/history/retention';
import type { HistoryStore } from '../../../server/history/store';

const DAY = 86_400_000;

describe('retention config', () => {
  it('parses d, h, m and s durations', () => {
    expect(parseRetentionDuration('90d')).toBe(90 * DAY);
    expect(parseRetentionDuration('36h')).toBe(36 * 3_600_000);
    expect(parseRetentionDuration(' 90m ')).toBe(90 * 60_000);
    expect(parseRetentionDuration('3600s')).toBe(3_600_000);
    expect(parseRetentionDuration('1.5d')).toBe(1.5 * DAY);
  });

  it('rejects what is not a duration of at least a minute', () => {
    for (const bad of ['90', 'd', '90 days', '-1d', '30s', '0m', '1w', '500ms']) expect(parseRetentionDuration(bad)).toBeNull();
  });

  it('defaults to 90 days of transitions and 30 days of minutes', () => {
    expect(resolveRetention(retentionSchema.parse(undefined))).toEqual({ transitionsMs: 90 * DAY, minutesMs: 30 * DAY });
    expect(resolveRetention(retentionSchema.parse({ minutes: '7d' }))).toEqual({ transitionsMs: 90 * DAY, minutesMs: 7 * DAY });
  });

  it('names the field and the expected form on a bad value, and refuses unknown fields', () => {
    const bad = retentionSchema.safeParse({ transitions: 'forever' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['transitions']);
    expect(bad.error!.issues[0]!.message).toMatch(/such as 90d/);
    expect(retentionSchema.safeParse({ results: '1d' }).success).toBe(false);
  });
});

describe('pruneOnce', () => {
  it('prunes minutes and transitions each by its own retention', async () => {
    const calls: string[] = [];
    const history = {
      prune: async (olderThan: number) => {
        calls.push(`minutes<${olderThan / DAY}`);
        return 12;
      },
    } as unknown as HistoryStore;
    const transitions = {
      pruneTransitions: async (olderThan: number) => {
        calls.push(`transitions<${olderThan / DAY}`);
        return 3;
      },
    };
    const result = await pruneOnce({ history, transitions }, { transitionsMs: 90 * DAY, minutesMs: 30 * DAY }, 100 * DAY);
    expect(result).toEqual({ hours: 12, transitions: 3 });
    expect(calls).toEqual(['minutes<70', 'transitions<10']);
    expect(await pruneOnce({ history }, { transitionsMs: DAY, minutesMs: DAY }, 5 * DAY)).toEqual({ hours: 12, transitions: 0 });
  });
});
