/**
 * The local gateway: one node:http server that mounts every registered function at its public route
 * (the routes the production ingress uses), plus /openapi.json, /docs, /healthz, /readyz (ready or not, no
 * detail) and the problem type pages. This is what `npm start` serves; in a cluster each function runs alone in
 * its functions-framework process instead (see framework-host.ts) and the ingress does this routing. /metrics
 * and the detailed /readyz are on the internal port (internal-server.ts), not here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import FindMyWay from 'find-my-way';
import type { HttpFunction } from '../function.ts';
import type { Deps } from '../platform.ts';
import { isProblemKind, Problem, problemKinds, problemTypeUri } from '../problem.ts';
import { firstHeader, problemReply, requestIdOf, runHttpFunction, type OutgoingReply } from './harness.ts';
import { buildOpenApi } from './openapi.ts';
import { readBody } from './read-body.ts';
import { probeReply } from './probes.ts';
import { clientAddress } from './client-address.ts';
import { guardRequestLimits } from './request-limits.ts';
import { pageSecurityHeaders } from './security-headers.ts';
import { writeReply } from './write-reply.ts';

export interface GatewayOptions {
  functions: readonly HttpFunction[];
  deps: Deps;
  version: string;
  /** A built web app to serve: its index.html at `/`, its other files at `/app/<file>`. */
  appDir?: string;
}

/** A handler for a route the gateway serves itself; returns false to fall through to 404. */
type Route = (request: IncomingMessage, response: ServerResponse, params: Record<string, string | undefined>) => Promise<void>;

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

export function toRouterPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

export function createGateway(options: GatewayOptions): Server {
  const { deps } = options;
  const router = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true });
  const openapi = JSON.stringify(buildOpenApi(options.functions, { version: options.version }));
  // Every answer of the gateway, its own pages and problems included, goes out through the one writer.
  const send = (response: ServerResponse, reply: OutgoingReply) => writeReply(response, reply, deps.log);

  for (const fn of options.functions) {
    router.on(fn.method, toRouterPath(fn.path), (async (request, response, params) => {
      const url = new URL(request.url ?? '/', 'http://gateway');
      const body = await readBody(request, fn.body ? deps.config.BODY_LIMIT_BYTES : 0);
      const reply = await runHttpFunction(
        fn,
        {
          method: fn.method,
          path: url.pathname,
          query: url.searchParams,
          params: params as Record<string, string>,
          headers: request.headers,
          body,
          ip: clientAddress(request, deps.config.TRUST_PROXY),
        },
        deps,
      );
      send(response, reply);
    }) satisfies Route);
  }

  const json = (status: number, body: string, contentType = 'application/json; charset=utf-8'): OutgoingReply => ({
    status,
    headers: { 'content-type': contentType },
    body,
  });
  const builtins: Record<string, Route> = {
    '/openapi.json': async (_q, s) => send(s, json(200, openapi)),
    '/docs': page(async (_q, s) => send(s, json(200, docsPage(), 'text/html; charset=utf-8'))),
    '/docs/:file': page(async (_q, s, p) => send(s, await swaggerAsset(p.file ?? ''))),
    '/problems/:kind': page(async (_q, s, p) => send(s, problemPage(p.kind ?? ''))),
  };
  if (options.appDir) {
    const appDir = options.appDir;
    builtins['/'] = page(async (_q, s) => send(s, await staticFile(appDir, 'index.html', 'no-cache')));
    builtins['/app/:file'] = page(async (_q, s, p) => send(s, await staticFile(appDir, p.file ?? '', 'no-cache')));
  }
  for (const path of ['/healthz', '/readyz']) builtins[path] = async (_q, s) => send(s, (await probeReply('GET', path, deps))!);
  for (const [path, route] of Object.entries(builtins)) router.on('GET', path, route);

  return guardRequestLimits(createServer(async (request, response) => {
    const method = request.method ?? 'GET';
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    try {
      const found = router.find(method as 'GET', path);
      if (found) {
        await (found.handler as unknown as Route)(request, response, found.params);
        return;
      }
      const allowed = methods.filter((m) => router.find(m, path));
      if (allowed.length > 0) {
        throw new Problem('method-not-allowed', `${method} is not allowed on ${path}`, { headers: { allow: allowed.join(', ') } });
      }
      throw new Problem('not-found', `No route for ${method} ${path}`);
    } catch (error) {
      const problem = error instanceof Problem ? error : new Problem('internal', 'The gateway failed', { cause: error });
      if (problem.status >= 500) deps.log.error({ err: error }, 'gateway failed');
      send(response, problemReply(problem, requestIdOf(request.headers), path));
    }
  }));
}

/** A route that answers a page a browser renders: its answers, errors included, carry the page headers. */
function page(route: Route): Route {
  return async (request, response, params) => {
    for (const [name, value] of Object.entries(pageSecurityHeaders)) response.setHeader(name, value);
    await route(request, response, params);
  };
}

/** The dashboard's icon (dashboard/index.html has the same; a test holds them equal), so /docs asks for no file. */
export const favicon = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='4' fill='%234f46e5'/%3E%3Ccircle cx='8' cy='8' r='3' fill='white'/%3E%3C/svg%3E";

function docsPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iotfn API</title>
<link rel="icon" href="${favicon}">
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/docs-init.js"></script>
</body></html>`;
}

const assetTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** A file of a flat folder; names with a path in them are refused, so nothing outside the folder is served. */
async function staticFile(dir: string, file: string, cacheControl: string): Promise<OutgoingReply> {
  const type = assetTypes[file.slice(file.lastIndexOf('.'))];
  if (!type || file.includes('/') || file.includes('\\') || file.startsWith('.')) throw new Problem('not-found', `No file ${file}`);
  const content = await readFile(join(dir, file)).catch(() => undefined);
  if (!content) throw new Problem('not-found', `No file ${file}`);
  return { status: 200, headers: { 'content-type': type, 'cache-control': cacheControl }, body: content };
}

async function swaggerAsset(file: string): Promise<OutgoingReply> {
  if (file === 'docs-init.js') {
    // Served as a file rather than inline so a strict Content-Security-Policy can forbid inline scripts.
    // No validatorUrl: its badge is an image from another origin, which the page's CSP refuses.
    const init = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null });`;
    return { status: 200, headers: { 'content-type': assetTypes['.js']! }, body: init };
  }
  const extension = file.slice(file.lastIndexOf('.'));
  const type = assetTypes[extension];
  if (!type || normalize(file) !== file || file.includes('/')) throw new Problem('not-found', `No documentation asset ${file}`);
  const content = await readFile(join(swaggerDir, file)).catch(() => undefined);
  if (!content) throw new Problem('not-found', `No documentation asset ${file}`);
  return { status: 200, headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' }, body: content };
}

function problemPage(kind: string): OutgoingReply {
  if (!isProblemKind(kind)) throw new Problem('not-found', `No problem type ${kind}`);
  const known = problemKinds[kind];
  const body = JSON.stringify({ type: problemTypeUri(kind), title: known.title, status: known.status });
  return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
}

export { firstHeader };
