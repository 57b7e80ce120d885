// `npm run build` (after `vite build`): compiles the server and the probe worker to plain
// JavaScript with esbuild, so production runs `node dist/server/cli.js` and no TypeScript
// loader (tsx stays a development tool: tests, benchmarks, the simulator CLI).
//
//   node scripts/build.mjs [--outdir DIR]      (default: dist, beside dist/web)
//
// What it writes (ESM, platform node, target node20, with source maps beside each file):
//   DIR/server/cli.js         `npm start`'s server; its packages stay in node_modules
//   DIR/server/users-cli.js   `npm run users` / `npm run audit:verify`
//   DIR/server/history/writer-thread.js  the server's history writer thread (worker_threads)
//   DIR/server/chunks/*.js    code the two share, and the demo (loaded only when no estate is given)
//   DIR/probes/worker.js      a probe worker, with ws and zod bundled in: one file that runs on
//                             another host with Node 20.19+ and nothing else installed
// The server bundles keep every package external (`packages: 'external'`): better-sqlite3 is
// native and loads its own binary, and the rest are needed in node_modules anyway. The server
// finds the dashboard (dist/web) from the package root, and its local worker beside itself
// (../probes/worker.js), so a build into another folder under the package also runs.
import { build } from 'esbuild';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({ options: { outdir: { type: 'string' } }, strict: true, allowPositionals: false }));
} catch (err) {
  fail(`${err.message}\nusage: node scripts/build.mjs [--outdir DIR]`);
}
const outdir = resolve(values.outdir ?? join(ROOT, 'dist'));

const common = {
  absWorkingDir: ROOT,
  outbase: ROOT,
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // Names stay readable in stack traces and logs; the files are read once at start-up.
  minify: false,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
};

// CommonJS packages bundled into an ES module (ws in the worker) call require() for Node's
// own modules; an ES module has none, so give it one.
const requireBanner = "import { createRequire as __pulseCreateRequire } from 'node:module';\nconst require = __pulseCreateRequire(import.meta.url);";

const started = performance.now();
const [server, worker] = await Promise.all([
  build({
    ...common,
    entryPoints: ['server/cli.ts', 'server/users-cli.ts', 'server/history/writer-thread.ts'],
    packages: 'external',
    // Code loaded by import() stays in its own file: a configured Pulse never loads the demo and
    // its simulator (server/cli.ts), as from source. Code both entries share goes in chunks too.
    splitting: true,
    chunkNames: 'server/chunks/[name]-[hash]',
  }),
  build({
    ...common,
    entryPoints: ['probes/worker.ts'],
    // ws's optional native speed-ups: it tries them and carries on without.
    external: ['bufferutil', 'utf-8-validate'],
    banner: { js: requireBanner },
  }),
]).catch(() => fail('esbuild failed (its errors are above)'));

// A module that starts itself when it is the program node was started with (probes/entry.ts)
// must be in no output but its own entry's: bundled into another program, its import.meta.url
// would be that program's and it would start there too.
const selfStarting = ['probes/worker.ts', 'server/users-cli.ts'];
for (const [output, meta] of Object.entries({ ...server.metafile.outputs, ...worker.metafile.outputs })) {
  const bad = selfStarting.filter((input) => input in meta.inputs && meta.entryPoint !== input);
  if (bad.length > 0) fail(`${relative(ROOT, resolve(ROOT, output))} would contain ${bad.join(', ')}, which starts itself when run: import what you need from another module`);
}

// server/main.ts finds the local worker as ../probes/worker.js from its own file: it must be in
// dist/server/cli.js itself, not in a chunk a folder deeper.
const cliOutput = Object.values(server.metafile.outputs).find((meta) => meta.entryPoint === 'server/cli.ts');
if (!cliOutput || !('server/main.ts' in cliOutput.inputs)) {
  fail('server/main.ts was put in a shared chunk, not in server/cli.js: its path to ../probes/worker.js would be wrong');
}

// Remove what an earlier build left that this one did not write (a renamed or removed entry).
const written = new Set([...Object.keys(server.metafile.outputs), ...Object.keys(worker.metafile.outputs)].map((f) => resolve(ROOT, f)));
for (const folder of ['server', 'probes']) {
  const dir = join(outdir, folder);
  const walk = (d) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (!written.has(path)) rmSync(path);
    }
  };
  walk(dir);
}

const sizes = [...written]
  .filter((f) => f.endsWith('.js'))
  .sort()
  .map((f) => `${relative(ROOT, f)} ${(statSync(f).size / 1024).toFixed(0)} KiB`);
process.stdout.write(`build: ${sizes.join(', ')} in ${Math.round(performance.now() - started)} ms\n`);
