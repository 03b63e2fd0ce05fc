/**
 * Hosts functions: the configuration (a bad one stops the process at once with one line naming the variable), the
 * platform started once (adapters, keys), the internal server (/metrics, the detailed /readyz) and every function
 * given registered with functions-framework under its name. Two entries use it: functions/index.ts with the whole
 * registry (development, `functions-framework --source=functions/index.ts`, functions-framework's own server), and
 * each compiled bundle of `npm run build` with its one function (deploy/build.ts), so a bundle loads that
 * function's code and nothing of the others.
 *
 *   await hostFunctions(functions);   // functions-framework's CLI loads this module and starts its server
 *   await serveFunction(jwks);        // a bundle run by plain `node` starts its own server
 *
 * A bundle's HTTP or scheduled function is served by httpFunctionServer (node:http straight to the registered
 * handler); only an event function, which needs functions-framework's CloudEvents parsing, loads its express
 * server, from a chunk of its own.
 */
import { loadConfig, type Config } from '../shared/config.ts';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Deps, PlatformOptions } from '../shared/platform.ts';
import type { PlatformFunction } from '../shared/function.ts';
import { createFunctionPlatform } from './platform.ts';
import { httpFunctionServer, registeredFunction, registerWithFunctionsFramework, takeOverFrameworkServer } from '../shared/http/framework-host.ts';
import { loadFrameworkServer } from '../shared/http/framework-module.ts';
import { startInternalServer } from '../shared/http/internal-server.ts';
import { listenOn, whyNotListening } from '../shared/http/listen.ts';

function fail(error: unknown): never {
  console.error(`${(error as Error).name ?? 'Error'}: ${(error as Error).message}`);
  process.exit(1);
}

/** The configuration, the platform starting in the background, and the functions registered: what every host does. */
function registerFunctions(functions: readonly PlatformFunction[], options: Partial<PlatformOptions> = {}): { config: Config; platform: Promise<Deps> } {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    fail(error);
  }
  const platform: Promise<Deps> = createFunctionPlatform(config, options);
  platform.catch(fail);
  // /metrics and the detailed /readyz, on METRICS_PORT: the public port answers only whether it is ready.
  platform
    .then(async (deps) => deps.log.info({ url: (await startInternalServer(deps)).url }, 'metrics and readiness detail'))
    .catch(fail);
  registerWithFunctionsFramework(functions, () => platform);
  return { config, platform };
}

/**
 * A function process opens PostgreSQL and Redis when a request first needs them (shared/on-first-use.ts), so a
 * wrong DATABASE_URL or REDIS_URL would otherwise show only as failing requests. Both are asked once the first
 * request has been answered, or a second after listening if none came: the process still stops with the one line
 * naming the variable, and the first request never waits for a server it does not use.
 */
const CHECK_WITHOUT_REQUEST_MS = 1_000;

function checkConnectionsAfterFirstAnswer(server: Server, platform: Promise<Deps>): void {
  let checked = false;
  const check = () => {
    if (checked) return;
    checked = true;
    clearTimeout(timer);
    platform.then((deps) => deps.checkConnections()).catch(fail);
  };
  const timer = setTimeout(check, CHECK_WITHOUT_REQUEST_MS);
  server.once('request', (_request: IncomingMessage, response: ServerResponse) => response.once('close', check));
}

/** Every function given, for functions-framework's CLI, which builds its own server after this module has loaded. */
export async function hostFunctions(functions: readonly PlatformFunction[]): Promise<void> {
  const { config } = registerFunctions(functions);
  await takeOverFrameworkServer(config.BODY_LIMIT_BYTES).catch(fail);
}

/**
 * Hosts one function and starts its server on PORT and HOST. An event function gets functions-framework's server,
 * built as its CLI (`functions-framework --target`) would, minus the CLI's module loader (which finds the source by
 * reading package.json files up the tree, ~60 ms of a cold start); its options (IGNORED_ROUTES,
 * CLOUD_RUN_TIMEOUT_SECONDS) are read by functions-framework's own parser, so they mean what they meant under the CLI.
 */
export async function serveFunction(fn: PlatformFunction): Promise<void> {
  const { config, platform } = registerFunctions([fn], { connect: 'on-first-use' });
  const address = { port: config.PORT, host: config.HOST };
  if (fn.kind !== 'event') {
    const server = httpFunctionServer(fn.name, config.BODY_LIMIT_BYTES);
    await listenOn(server, address).catch(fail);
    checkConnectionsAfterFirstAnswer(server, platform);
    return;
  }
  await takeOverFrameworkServer(config.BODY_LIMIT_BYTES).catch(fail);
  const { options, server: serverModule, invoker } = await loadFrameworkServer();
  const registered = registeredFunction(fn.name);
  const server = serverModule.getServer(registered.userFunction, { ...options.parseOptions(), target: fn.name, signatureType: registered.signatureType });
  const errorHandler = new invoker.ErrorHandler(server);
  server.once('error', (error: NodeJS.ErrnoException) => fail(whyNotListening(error, address)));
  server.listen(address.port, address.host, () => errorHandler.register()).setTimeout(0);
  checkConnectionsAfterFirstAnswer(server, platform);
}
