// What counts as a DNS host name in a target or option. Pure.
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}\\.?$)${LABEL}(?:\\.${LABEL})*\\.?$`);

/** Letters, digits, `-` and `_` in dot-separated labels of at most 63, 253 in all; a trailing dot is allowed. */
export function isHostName(text: string): boolean {
  return HOST_NAME.test(text);
}
