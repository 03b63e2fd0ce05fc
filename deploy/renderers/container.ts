/**
 * The container image: one multi-stage `Dockerfile` for every function and long-lived process, the
 * `.dockerignore` that keeps the build context to what the image is built from, the entrypoint that picks a process
 * by `FUNCTION_TARGET`, and `deploy/build-images.sh`, which builds the image once and tags it per target. The build
 * stage type-checks and compiles (`npm run build`, deploy/build.ts); the run stage holds the compiled `dist/` and
 * the production dependencies only, no TypeScript and no tsx, and runs plain `node`:
 *
 *   FUNCTION_TARGET=login     → dist/functions/login.js: functions-framework serving `login` alone (what Knative scales)
 *   FUNCTION_TARGET=relay     → dist/bin/iotfn.js relay      (Socket.IO relay)
 *   FUNCTION_TARGET=bridge    → dist/bin/iotfn.js bridge     (MQTT bridge)
 *   FUNCTION_TARGET=triggers  → dist/bin/iotfn.js triggers   (event functions fed from RabbitMQ, where no Knative trigger is)
 *   FUNCTION_TARGET=gateway   → dist/bin/iotfn.js dev        (every function in one process; Compose uses it for the docs and dashboard)
 *
 * What the build context lets in is derived from the import graph of the build's entry points, so a new top-level
 * folder the code starts to import is sent to the build without anyone remembering to add it here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventFunctions, functions } from '../../functions/registry.ts';
import { processes, type ProcessCommand, type ProcessName } from '../../functions/processes.ts';
import type { RenderedFile } from '../render.ts';
import { imageTag, imageVersion, project, functionPort } from '../settings.ts';
import { cliBundle, distDir, functionBundle } from '../build.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The Node image both stages start from: Debian (glibc), so argon2's prebuilt binary loads without a compiler. */
export const nodeImage = 'node:20-bookworm-slim';

/** Processes of the image that are not registry functions, with the `iotfn` command each one runs (functions/processes.ts). */
export const processTargets = Object.fromEntries(processes.map((p) => [p.name, p.command])) as Record<ProcessName, ProcessCommand>;

export type ProcessTarget = ProcessName;

/** Every `FUNCTION_TARGET` the image answers to: each function by name, then the long-lived processes. */
export function imageTargets(): string[] {
  return [...functions.map((fn) => fn.name), ...Object.keys(processTargets)];
}

/** Files the build stage type-checks and compiles from: the CLI, the functions-framework host, and the build itself. */
export const buildEntryPoints = ['bin/iotfn.ts', 'functions/index.ts', 'deploy/build.ts'];

/**
 * Node's flags for the long-lived processes of the image: stack traces name the TypeScript sources, not the
 * bundles. Functions start without: reading the source maps at start cost a cold start ~10 MB of resident memory
 * and 20–50 ms (measured on jwks); their chunks are not minified, so a trace still names functions and lines,
 * and NODE_OPTIONS=--enable-source-maps turns the maps on where a trace must name the sources.
 */
export const nodeFlags = '--enable-source-maps';
/**
 * A function's young generation capped at 2 MB a semi-space (V8 grows it to 16 MB under load): a function
 * process is small and short-lived, and its requests' garbage dies young. Measured on `me` at its full rate
 * (~8,300 req/s in one process): the same rate, resident memory under load 105 → 80 MB.
 */
export const functionNodeFlags = '--max-semi-space-size=2';

/**
 * The probe the image's HEALTHCHECK and Compose's healthchecks run: Node's own fetch, because the slim
 * image has neither curl nor wget. Every target answers `/healthz` on PORT with 200 once its platform is up
 * (event functions too: the functions-framework host answers probes before its POST-only routing).
 */
export const healthProbe = [
  'node',
  '-e',
  `fetch('http://127.0.0.1:'+(process.env.PORT||${functionPort})+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`,
];

export interface ImportGraph {
  /** Repository files reachable from the entry points, relative to the repository root. */
  files: string[];
  /** npm packages those files import. */
  packages: string[];
}

// Only imports that start a line count, so an example inside a doc comment (` *   import …`) is not one.
const staticImport = /^\s*(?:import|export)\s+(?:type\s+)?[^;'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;
const dynamicImport = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/**
 * Walks the imports from the entry points, type-only and dynamic ones too: the build stage's type-check needs every
 * file it can see referenced, and the bundles hold what a dynamic import() loads.
 */
export function importGraph(entries: readonly string[] = buildEntryPoints): ImportGraph {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(join(repoRoot, file), 'utf8');
    const specifiers = [...source.matchAll(staticImport)].map((match) => (match[1] ?? match[2])!);
    specifiers.push(...[...source.matchAll(dynamicImport)].map((match) => match[1]!));
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(normalize(relative(repoRoot, join(repoRoot, dirname(file), specifier))));
      else if (!specifier.startsWith('node:')) packages.add(packageName(specifier));
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const topFolders = (files: string[]) => [...new Set(files.map((file) => file.split('/')[0]!))].sort();

/** Top-level folders the build context holds: what the type-check and the compilation of the build stage reach. */
export function buildFolders(): string[] {
  return topFolders(importGraph().files);
}

const notice = (renderer: string) => `Rendered by deploy/renderers/${renderer} from the function registry (\`iotfn render\`): edit the renderer, not this file.`;

function dockerfile(): string {
  const probe = JSON.stringify(healthProbe);
  return `# syntax=docker/dockerfile:1
# ${notice('container.ts')}
#
# One image for every function and process of ${project}; FUNCTION_TARGET picks what a container runs
# (docker/entrypoint.sh). deploy/build-images.sh builds it once and tags it once per target.

FROM ${nodeImage} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The type-check fails the build on a type error (esbuild only strips types); npm run build compiles one bundle
# per function, the CLI for the long-lived processes and the dashboard into ${distDir}/ (deploy/build.ts).
RUN npx tsc -p . && npx tsc -p dashboard && npm run build

FROM ${nodeImage} AS run
ENV NODE_ENV=production PORT=${functionPort} HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: the packages the bundles leave external (native code, data files,
# functions-framework) and the static files the gateway serves (swagger-ui-dist). No TypeScript, no tsx.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/${distDir} ./${distDir}
COPY docker/entrypoint.sh ./docker/entrypoint.sh
# The embedded adapters keep their files in DATA_DIR (.data): the only place the unprivileged user writes.
RUN mkdir -p .data && chown -R node:node .data
USER node
EXPOSE ${functionPort}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ${probe}
ENTRYPOINT ["/bin/sh", "docker/entrypoint.sh"]
`;
}

/** An allow-list: a file nobody listed (an `.env`, a key, test output) never reaches the build context. */
function dockerignore(folders: string[]): string {
  return `# ${notice('container.ts')}
# Everything is left out of the build context except what the image is type-checked, built and run from.
*
!package.json
!package-lock.json
!tsconfig.json
!docker/
${folders.map((folder) => `!${folder}/`).join('\n')}
dashboard/dist/
${distDir}/
**/*.log
**/.env
`;
}

function entrypoint(): string {
  const names = functions.map((fn) => fn.name);
  const commands = Object.entries(processTargets).map(([target, command]) => `  ${target}) exec node ${nodeFlags} ${cliBundle} ${command} ;;`);
  return `#!/bin/sh
# ${notice('container.ts')}
#
# One image, many processes: FUNCTION_TARGET names what this container runs. The function names come from
# the registry, so a typo stops the container with the list of valid targets instead of a framework error.
set -eu

target="\${FUNCTION_TARGET:-}"
case "$target" in
${commands.join('\n')}
  ${names.join('|')})
    exec node ${functionNodeFlags ? `${functionNodeFlags} ` : ''}"${functionBundle('$target')}" ;;
  *)
    echo "FUNCTION_TARGET: expected one of ${imageTargets().join(', ')}, got \\"$target\\"" >&2
    exit 64 ;;
esac
`;
}

function buildScript(): string {
  const local = `${project}:${imageVersion}`;
  const tags = imageTargets().map((target) => imageTag(target));
  return `#!/bin/sh
# ${notice('container.ts')}
#
# Builds the one image of ${project} and tags it once per function and process (<registry>/<project>-<target>:<version>).
#   sh deploy/build-images.sh          build and tag
#   sh deploy/build-images.sh --push   and push every tag (microk8s: enable the registry add-on first)
set -eu
cd "$(dirname "$0")/.."

docker build -t ${local} .
${tags.map((tag) => `docker tag ${local} ${tag}`).join('\n')}

if [ "\${1:-}" = "--push" ]; then
${tags.map((tag) => `  docker push ${tag}`).join('\n')}
fi
`;
}

export function renderContainerArtefacts(): RenderedFile[] {
  return [
    { path: 'Dockerfile', content: dockerfile() },
    { path: '.dockerignore', content: dockerignore(buildFolders()) },
    { path: 'docker/entrypoint.sh', content: entrypoint() },
    { path: 'deploy/build-images.sh', content: buildScript() },
  ];
}
