import { describe, expect, it } from 'vitest';
import { correlateSoftware, type SoftwareMap } from '../../../server/fleet/software';

/** `n` agents reporting `map`. */
const times = (n: number, map: SoftwareMap): SoftwareMap[] => Array.from({ length: n }, () => map);
const BAD = { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000291', os: '10.0.19045.4651' };
const GOOD = { 'falcon-sensor': '7.15.18513', 'channel-file': 'C-00000290', os: '10.0.19045.4651' };

describe('correlateSoftware', () => {
  it('names the version the silent agents share and the healthy mostly do not', () => {
    const silent = [...times(47, BAD), ...times(3, GOOD)];
    const healthy = [...times(4, BAD), ...times(46, GOOD)];
    const found = correlateSoftware(silent, healthy);
    expect(found).toEqual({
      // Both names split alike; the tie goes to the name first in alphabetical order.
      key: 'channel-file',
      value: 'C-00000291',
      silentShare: 0.94,
      healthyShare: 0.08,
      silent: 50,
      healthy: 50,
      text: '94% of silent workstations last reported channel-file C-00000291 (8% of healthy ones)',
    });
  });

  it('picks the value with the largest gap, not merely the commonest', () => {
    // Every silent agent runs the sensor 7.16, but so do 60% of the healthy; the channel file tells them apart.
    const silent = times(20, { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000291' }).map((m, i) =>
      i < 18 ? m : { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000290' },
    );
    const healthy = [
      ...times(30, { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000290' }),
      ...times(20, { 'falcon-sensor': '7.15.18513', 'channel-file': 'C-00000290' }),
    ];
    expect(correlateSoftware(silent, healthy)).toMatchObject({
      key: 'channel-file',
      value: 'C-00000291',
      text: '90% of silent workstations last reported channel-file C-00000291 (0% of healthy ones)',
    });
  });

  it('never names a value every agent runs', () => {
    const os = { os: '10.0.19045.4651' };
    expect(correlateSoftware(times(40, os), times(40, os))).toBeNull();
  });

  it('returns null on noise: the same mix among silent and healthy', () => {
    const mix = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? BAD : GOOD));
    expect(correlateSoftware(mix(40), mix(60))).toBeNull();
  });

  it('returns null when a gap is small enough to be chance', () => {
    // 3 of 5 against 0 of 5: a 60-point gap, but five agents a side explain it.
    expect(correlateSoftware([...times(3, BAD), ...times(2, GOOD)], times(5, GOOD))).toBeNull();
  });

  it('returns null with too few silent or healthy agents to compare', () => {
    expect(correlateSoftware(times(4, BAD), times(50, GOOD))).toBeNull();
    expect(correlateSoftware(times(50, BAD), times(4, GOOD))).toBeNull();
    expect(correlateSoftware([], [])).toBeNull();
  });

  it('returns null when the value is on fewer than half the silent agents', () => {
    const other = (i: number) => ({ 'falcon-sensor': `7.0.${i}` });
    const silent = [...times(9, { 'falcon-sensor': '7.16.18605' }), ...Array.from({ length: 11 }, (_, i) => other(i))];
    expect(correlateSoftware(silent, times(50, GOOD))).toBeNull();
    expect(correlateSoftware([...silent, { 'falcon-sensor': '7.16.18605' }, { 'falcon-sensor': '7.16.18605' }], times(50, GOOD))).toMatchObject({
      value: '7.16.18605',
    });
  });

  it('honours its thresholds', () => {
    const silent = [...times(12, BAD), ...times(8, GOOD)];
    const healthy = [...times(10, BAD), ...times(40, GOOD)];
    expect(correlateSoftware(silent, healthy)).toMatchObject({ value: 'C-00000291', silentShare: 0.6, healthyShare: 0.2 });
    expect(correlateSoftware(silent, healthy, { minSilentShare: 0.7 })).toBeNull();
    expect(correlateSoftware(silent, healthy, { minGap: 0.5 })).toBeNull();
    expect(correlateSoftware(silent, healthy, { minSilent: 21 })).toBeNull();
    expect(correlateSoftware(silent, healthy, { minHealthy: 51 })).toBeNull();
    expect(correlateSoftware(silent, healthy, { minZ: 4 })).toBeNull();
  });

  it('never reads "100%" or "0%" for a share that is neither', () => {
    const silent = [...times(399, BAD), GOOD];
    const healthy = [BAD, ...times(399, GOOD)];
    expect(correlateSoftware(silent, healthy)?.text).toBe('99% of silent workstations last reported channel-file C-00000291 (1% of healthy ones)');
  });
});
