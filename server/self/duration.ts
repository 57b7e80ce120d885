// How Pulse speaks a short duration about itself: `1.2 s`, `40 s`, `3 min`, `1.5 h`. One
// wording for the observer's reasons and the fleet's "not listening" detail. Pure.

export function spokenDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const h = s / 3600;
  return h < 10 ? `${Number(h.toFixed(1))} h` : `${Math.round(h)} h`;
}
