// Whether a module is the program node was started with (`node --import tsx probes/worker.ts`),
// rather than imported by a test: its caller passes its own `import.meta.url`.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}
