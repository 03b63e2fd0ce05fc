/**
 * `npm run build`: compiles the platform with esbuild into `dist/`, which is all the image runs (plain `node`, no
 * TypeScript, no tsx):
 *
 *   dist/functions/<name>.js   one bundle per registry function: that function's module and functions/host.ts
 *   dist/bin/iotfn.js          the command line, for the long-lived processes (relay, bridge, triggers, dev)
 *   dist/chunks/*.js           code shared by several bundles, and what a dynamic import() loads on demand
 *   dist/dashboard/            the dashboard, built here so the running gateway needs no esbuild
 *   dist/package.json          the version (shared/version.ts reads it) and `"type": "module"`
 *   dist/meta.json             esbuild's metafile: which inputs and packages each bundle holds
 *
 *   npm run build                        node --import tsx deploy/build.ts
 *   npm run build -- /tmp/stage/dist     into another folder (the tests build their own)
 *
 * Every output file sits one folder below dist/, so a module's `import.meta.url` can be mapped to where it would sit
 * if dist/ mirrored the sources (see sourcePlacement): files read beside a module keep their relative place.
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { readFile, rm, writeFile, readdir, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PlatformFunction } from '../shared/function.ts';
import { functions } from '../functions/registry.ts';
import { buildDashboard } from '../dashboard/build.ts';
import { kebab } from './settings.ts';
import { frameworkInternals, frameworkServerInternals } from '../shared/http/framework-module.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Where the build writes, relative to the repository (and to /app in the image). */
export const distDir = 'dist';

/** The source file of a registered function, by the registry's naming rule: `addDevice` → functions/devices/add-device.ts. */
export function functionSource(fn: Pick<PlatformFunction, 'name' | 'domain'>): string {
  return `functions/${fn.domain}/${kebab(fn.name)}.ts`;
}

/** The compiled bundle that serves one function, relative to the repository. */
export function functionBundle(name: string): string {
  return `${distDir}/functions/${name}.js`;
}

/** The compiled command line, which runs the long-lived processes (`node dist/bin/iotfn.js relay`). */
export const cliBundle = `${distDir}/bin/iotfn.js`;

/** The dashboard as `npm run build` leaves it; dashboard/build.ts serves this folder when it runs compiled. */
export const dashboardDir = `${distDir}/dashboard`;

export const metafilePath = `${distDir}/meta.json`;

/**
 * Packages loaded from node_modules at run time instead of bundled. Native code or data files beside the
 * JavaScript: argon2, PGlite (its WebAssembly), mongodb (and its optional natives). esbuild: only a dashboard
 * build from the sources loads it, never a process of the image. Every other package is bundled, functions-framework
 * too (bundledFrameworkModule): measured on jwks, spawn → first 200 was 150 ms shorter than with every package left
 * in node_modules.
 */
export const externalPackages = ['argon2', '@electric-sql/pglite', 'mongodb', 'esbuild'];

/** Optional native add-ons that bundled packages require inside a try (pg's, ws's): not installed, and not needed. */
export const optionalNatives = ['pg-native', 'bufferutil', 'utf-8-validate'];

/**
 * Bundled CommonJS packages call `require` for Node's own modules; an ES module has no `require`, so every
 * output file gets one, made for its own place.
 */
const requireBanner = "import { createRequire as __iotfnCreateRequire } from 'node:module'; const require = __iotfnCreateRequire(import.meta.url);";

const functionEntryNamespace = 'iotfn-function';

/**
 * The entry of one function's bundle, generated (nothing of it is committed): that function's module and the
 * host, so the bundle holds no other function's code.
 */
function functionEntries(): Plugin {
  return {
    name: 'function-entries',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${functionEntryNamespace}:`) }, (args) => ({ path: args.path.slice(functionEntryNamespace.length + 1), namespace: functionEntryNamespace }));
      b.onLoad({ filter: /.*/, namespace: functionEntryNamespace }, (args) => {
        const fn = functions.find((candidate) => candidate.name === args.path);
        if (!fn) return { errors: [{ text: `no registered function named ${args.path}` }] };
        const source = JSON.stringify(join(repoRoot, functionSource(fn)));
        const host = JSON.stringify(join(repoRoot, 'functions/host.ts'));
        return { contents: `import fn from ${source};\nimport { serveFunction } from ${host};\nawait serveFunction(fn);\n`, resolveDir: repoRoot, loader: 'ts' };
      });
    },
  };
}

const frameworkServerModule = 'iotfn-framework-server';

/**
 * functions-framework bundled: shared/http/framework-module.ts reaches its internals with createRequire on
 * node_modules, which a bundle has no sources for. Here it becomes static requires of the very files
 * functions-framework's own requires resolve to (so esbuild bundles each once, and a patch reaches the instance
 * functions-framework uses), with the server half (express, body-parser, their dependencies) behind a dynamic
 * import: a chunk of its own that only an event function's process loads.
 */
function bundledFrameworkModule(): Plugin {
  const source = join(repoRoot, 'shared/http/framework-module.ts');
  const main = createRequire(import.meta.url).resolve('@google-cloud/functions-framework');
  const resolveFromFramework = (path: string) => (path.startsWith('.') ? join(dirname(main), path) : createRequire(main).resolve(path));
  return {
    name: 'bundled-framework-module',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${frameworkServerModule}$`) }, () => ({ path: frameworkServerModule, namespace: frameworkServerModule }));
      b.onLoad({ filter: /.*/, namespace: frameworkServerModule }, () => ({
        contents: Object.entries(frameworkServerInternals)
          .map(([name, path]) => `export const ${name} = require(${JSON.stringify(resolveFromFramework(path))});`)
          .join('\n'),
        resolveDir: repoRoot,
        loader: 'js',
      }));
      b.onLoad({ filter: /framework-module\.ts$/ }, (args) => {
        if (args.path !== source) return undefined;
        const internals = frameworkInternals.map((path) => `  ${JSON.stringify(path)}: () => require(${JSON.stringify(resolveFromFramework(path))}),`);
        return {
          contents: [
            `export const frameworkInternals = ${JSON.stringify(frameworkInternals)};`,
            `export const frameworkServerInternals = ${JSON.stringify(frameworkServerInternals)};`,
            `const internals = {\n${internals.join('\n')}\n};`,
            'export function frameworkModule(path) { return internals[path](); }',
            `export function loadFrameworkServer() { return import(${JSON.stringify(frameworkServerModule)}); }`,
          ].join('\n'),
          resolveDir: repoRoot,
          loader: 'js',
        };
      });
    },
  };
}

/**
 * A file of a package as it should be bundled: `patch` of its text. The build fails when the text no longer
 * holds `expected` (the package changed), rather than ship the file unpatched, or wrongly patched, without a word.
 */
function patchPackageFile(name: string, file: RegExp, expected: string, patch: (contents: string) => string): Plugin {
  return {
    name,
    setup(b) {
      b.onLoad({ filter: file }, async (args) => {
        const contents = await readFile(args.path, 'utf8');
        if (!contents.includes(expected)) return { errors: [{ text: `${name}: ${args.path} no longer contains ${JSON.stringify(expected)}; check the patch against the new version` }] };
        return { contents: patch(contents), loader: 'js' };
      });
    },
  };
}

/**
 * pg asks whether it runs in a Cloudflare Worker when it first connects: on Node 20, with no `navigator`, by
 * `new Response(null, { cf })`, and the first touch of the global Response loads Node's whole fetch
 * implementation (undici) into a process that never fetches: measured ~20 ms and a few MB of a cold start.
 * A Node process is not a Worker.
 */
const pgWithoutCloudflareProbe = patchPackageFile(
  'pg-without-cloudflare-probe',
  /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/,
  'function isCloudflareRuntime() {',
  (contents) => contents.replace('function isCloudflareRuntime() {', 'function isCloudflareRuntime() {\n  return false // iotfn build (deploy/build.ts): Node is not a Cloudflare Worker\n'),
);

/**
 * jsonwebtoken asks semver at load whether this Node supports RSA-PSS and key details (`>=15.7.0`, `>=16.9.0`):
 * semver's 69 KB and the ~40 regular expressions it builds at load, in every function, for an answer that is
 * always yes on the Node versions package.json's `engines` admits (>=20.19).
 */
const jsonwebtokenWithoutSemver = patchPackageFile(
  'jsonwebtoken-without-semver',
  /[\\/]node_modules[\\/]jsonwebtoken[\\/]lib[\\/](psSupported|asymmetricKeyDetailsSupported|rsaPssKeyDetailsSupported)\.js$/,
  'module.exports = semver.satisfies(process.version,',
  () => 'module.exports = true; // iotfn build (deploy/build.ts): Node >= 20.19\n',
);

/**
 * prom-client's process CPU counter requires the OpenTelemetry API for exemplars, which the platform does not
 * enable: it is required when an exemplar is first asked for instead of when every function starts.
 */
const promClientLazyOpenTelemetry = patchPackageFile(
  'prom-client-lazy-opentelemetry',
  /[\\/]node_modules[\\/]prom-client[\\/]lib[\\/]metrics[\\/]processCpuTotal\.js$/,
  "const OtelApi = require('@opentelemetry/api');",
  (contents) =>
    contents.replace(
      "const OtelApi = require('@opentelemetry/api');",
      "let otelApi; const OtelApi = { get trace() { return (otelApi ??= require('@opentelemetry/api')).trace; }, get context() { return (otelApi ??= require('@opentelemetry/api')).context; } }; // iotfn build: required on first use",
    ),
);

/**
 * zod's messages in English only: its locales index re-exports 40-odd languages that every bundle would parse at
 * start (354 KB of 734), and the platform configures none of them (zod's default, English, is set from en.js).
 */
const zodEnglishOnly = patchPackageFile(
  'zod-english-only',
  /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/,
  'export { default as en } from "./en.js";',
  () => 'export { default as en } from "./en.js";\n',
);

/** Where a source file sits when dist/ mirrors the sources: shared/version.ts → dist/shared/version.js. */
function sourcePlacement(file: string): string {
  return relative(repoRoot, file).replace(/\.ts$/, '.js');
}

/**
 * `iotfn render` and `iotfn deploy` write and apply the deploy artefacts from a checkout, with the sources and the dev
 * dependencies (the YAML library): the image never runs them, so the CLI bundle leaves deploy/ out. Run from dist/,
 * they stop with the module-not-found error of their import().
 */
function deployCommandsLeftOut(): Plugin {
  return {
    name: 'deploy-commands-left-out',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/deploy\// }, (args) => (args.importer.startsWith(join(repoRoot, 'bin')) ? { path: args.path, external: true } : undefined));
    },
  };
}

/**
 * Our own modules as the bundles need them. `import.meta.url` becomes the URL the module would have at its mirrored
 * place in dist/ (every output sits one folder deep, hence `../`), so shared/version.ts finds dist/package.json and
 * dashboard/build.ts the prebuilt dashboard. shared/db/bundled-migrations.ts gets the SQL of shared/db/migrations
 * inlined, since no folder of them ships. A `#!` line (bin/iotfn.ts names tsx in it) is dropped.
 */
function ownModules(migrations: { file: string; sql: string }[]): Plugin {
  const bundledMigrations = join(repoRoot, 'shared/db/bundled-migrations.ts');
  return {
    name: 'own-modules',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes('/node_modules/') || !args.path.startsWith(repoRoot)) return undefined;
        if (args.path === bundledMigrations) return { contents: `export const bundledMigrations = ${JSON.stringify(migrations)};\n`, loader: 'ts' };
        let contents = await readFile(args.path, 'utf8');
        if (contents.startsWith('#!')) contents = contents.slice(contents.indexOf('\n') + 1);
        if (contents.includes('import.meta.url')) {
          contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(`../${sourcePlacement(args.path)}`)}, import.meta.url).href`);
        }
        return { contents, loader: 'ts' };
      });
    },
  };
}

async function migrationFiles(): Promise<{ file: string; sql: string }[]> {
  const dir = join(repoRoot, 'shared/db/migrations');
  const files = (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort();
  return Promise.all(files.map(async (file) => ({ file, sql: await readFile(join(dir, file), 'utf8') })));
}

export interface BuildResult {
  metafile: Metafile;
  ms: number;
}

/**
 * Builds dist/ from scratch: the bundles, their metafile, the dashboard and dist/package.json. Tests build into a
 * folder of their own (`out`), so a run never swaps the files under another run's processes.
 */
export async function buildDist(out = join(repoRoot, distDir)): Promise<BuildResult> {
  const started = performance.now();
  await rm(out, { recursive: true, force: true });
  const entryPoints: Record<string, string> = { 'bin/iotfn': join(repoRoot, 'bin/iotfn.ts') };
  for (const fn of functions) entryPoints[`functions/${fn.name}`] = `${functionEntryNamespace}:${fn.name}`;
  const manifest = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
  const [result] = await Promise.all([
    build({
      entryPoints,
      outdir: out,
      absWorkingDir: repoRoot,
      entryNames: '[dir]/[name]',
      chunkNames: 'chunks/[name]-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Mappings only: stack traces name the source file and line, and the image ships no sources to show.
      sourcemap: true,
      sourcesContent: false,
      metafile: true,
      banner: { js: requireBanner },
      external: [...externalPackages, ...optionalNatives],
      plugins: [functionEntries(), deployCommandsLeftOut(), bundledFrameworkModule(), pgWithoutCloudflareProbe, zodEnglishOnly, jsonwebtokenWithoutSemver, promClientLazyOpenTelemetry, ownModules(await migrationFiles())],
      logLevel: 'warning',
    }),
    buildDashboard(join(out, relative(distDir, dashboardDir))),
  ]);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'package.json'), JSON.stringify({ name: manifest.name, version: manifest.version, type: 'module', private: true }, null, 2) + '\n');
  await writeFile(join(out, relative(distDir, metafilePath)), JSON.stringify(result.metafile));
  for (const file of Object.keys(result.metafile.outputs)) {
    const depth = relative(out, join(repoRoot, file)).split('/').length;
    if (depth !== 2) throw new Error(`${file} is not one folder below ${distDir}/: import.meta.url of its modules would point elsewhere`);
  }
  return { metafile: result.metafile, ms: Math.round(performance.now() - started) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2] ? resolve(process.argv[2]) : join(repoRoot, distDir);
  const { metafile, ms } = await buildDist(out);
  const outputs = Object.keys(metafile.outputs).filter((file) => file.endsWith('.js'));
  const chunks = outputs.filter((file) => file.includes('/chunks/')).length;
  console.log(`build: ${outputs.length} files in ${out} (${functions.length} functions, the CLI, ${chunks} chunks) and the dashboard in ${ms} ms`);
}
