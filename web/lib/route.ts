// Which page a path shows. The server answers the same shell for each of these paths; the
// app routes itself here. Pure, so it is unit-tested without a browser.
export type Route =
  | { page: 'console' }
  | { page: 'wall' }
  | { page: 'practice'; ods: string }
  | { page: 'incident'; id: number }
  | { page: 'not-found'; path: string };

export function routeOf(pathname: string): Route {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/') return { page: 'console' };
  if (path === '/wall') return { page: 'wall' };
  const practice = /^\/practice\/([A-Za-z0-9]{3,10})$/.exec(path);
  if (practice) return { page: 'practice', ods: practice[1]!.toUpperCase() };
  const incident = /^\/incidents\/([1-9][0-9]{0,9})$/.exec(path);
  if (incident) return { page: 'incident', id: Number(incident[1]) };
  return { page: 'not-found', path };
}

export function practiceHref(ods: string): string {
  return `/practice/${encodeURIComponent(ods)}`;
}

export function incidentHref(id: number): string {
  return `/incidents/${id}`;
}
