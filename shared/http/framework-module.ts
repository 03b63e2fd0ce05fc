/**
 * functions-framework's own modules, reached the way it reaches them, so a patch (framework-host.ts) lands on the
 * one instance it uses: the package's `exports` hides its internals from a plain import.
 *
 * Two halves, because a function process needs only the first:
 *   frameworkModule('./function_registry.js')   the registry ff.http / ff.cloudEvent fill: tiny, loaded at start
 *   await loadFrameworkServer()                 its express server and body-parser, which only an event function
 *                                               (CloudEvents over HTTP) and getTestServer use
 *
 * From the sources both are createRequire calls on node_modules. The build (deploy/build.ts,
 * bundledFrameworkModule) replaces this file with static requires of the same files, so functions-framework is
 * bundled like any other package, and puts the server half behind a dynamic import of its own chunk: an HTTP
 * function's process never parses express, body-parser, iconv-lite or mime-db (about 1 MB of JavaScript).
 */
import { createRequire } from 'node:module';

/** The internals reached by frameworkModule, as paths relative to functions-framework's main module. */
export const frameworkInternals = ['./function_registry.js'] as const;

/** The internals of the server half, loaded together by loadFrameworkServer. */
export const frameworkServerInternals = { bodyParser: 'body-parser', server: './server.js', invoker: './invoker.js', options: './options.js' } as const;

export type FrameworkInternal = (typeof frameworkInternals)[number];

export interface FrameworkServer {
  bodyParser: Record<string, (options?: { type?: string }) => unknown>;
  server: { getServer: (...args: unknown[]) => import('node:http').Server; guarded?: true };
  invoker: { ErrorHandler: new (server: import('node:http').Server) => { register(): void } };
  /** Its option parser (PORT, FUNCTION_SIGNATURE_TYPE, IGNORED_ROUTES, CLOUD_RUN_TIMEOUT_SECONDS), as its CLI reads them. */
  options: { parseOptions: () => { port: string; target: string; signatureType: string } };
}

const frameworkRequire = () => createRequire(createRequire(import.meta.url).resolve('@google-cloud/functions-framework'));

export function frameworkModule<M>(path: FrameworkInternal): M {
  return frameworkRequire()(path) as M;
}

export async function loadFrameworkServer(): Promise<FrameworkServer> {
  const load = frameworkRequire();
  return {
    bodyParser: load(frameworkServerInternals.bodyParser) as FrameworkServer['bodyParser'],
    server: load(frameworkServerInternals.server) as FrameworkServer['server'],
    invoker: load(frameworkServerInternals.invoker) as FrameworkServer['invoker'],
    options: load(frameworkServerInternals.options) as FrameworkServer['options'],
  };
}
