// Status transitions held while the store cannot take them: kept in order, written first when
// it can, and past the bound exactly what was dropped is handed over once as a gap.
import { describe, expect, it } from 'vitest';
import { TransitionBacklog } from '../../../server/history/backlog';
import type { StatusTransition } from '../../../server/store/types';

const t = (at: number): StatusTransition => ({ subject: 'practice:A81001', from: 'up', to: 'down', cause: null, at }) as StatusTransition;

describe('TransitionBacklog', () => {
  it('keeps everything on a failed write and writes it all, oldest first, on the next', async () => {
    const backlog = new TransitionBacklog(10);
    backlog.push([t(1), t(2)]);
    await expect(backlog.flush(() => Promise.reject(new Error('full')), async () => {})).rejects.toThrow('full');
    backlog.push([t(3)]);
    const written: number[] = [];
    expect(await backlog.flush(async (rows) => void written.push(...rows.map((r) => r.at)), async () => {})).toBe(3);
    expect(written).toEqual([1, 2, 3]);
    expect(backlog.size).toBe(0);
  });

  it('past its bound drops the oldest and records how many and their time span, once', async () => {
    const backlog = new TransitionBacklog(3);
    backlog.push([t(1), t(2), t(3), t(4)]);
    backlog.push([t(5)]);
    expect(backlog.size).toBe(3);
    expect(backlog.droppedTotal).toBe(2);
    expect(backlog.pendingGap).toEqual({ dropped: 2, from: 1, to: 2 });
    const gaps: unknown[] = [];
    const written: number[] = [];
    await backlog.flush(async (rows) => void written.push(...rows.map((r) => r.at)), async (g) => void gaps.push(g));
    expect(written).toEqual([3, 4, 5]);
    expect(gaps).toEqual([{ dropped: 2, from: 1, to: 2 }]);
    await backlog.flush(async () => {}, async (g) => void gaps.push(g));
    expect(gaps).toHaveLength(1);
  });

  it('keeps the gap when its record cannot be written', async () => {
    const backlog = new TransitionBacklog(1);
    backlog.push([t(1), t(2)]);
    await expect(backlog.flush(async () => {}, () => Promise.reject(new Error('full')))).rejects.toThrow('full');
    expect(backlog.size).toBe(0);
    expect(backlog.pendingGap).toEqual({ dropped: 1, from: 1, to: 1 });
  });
});
