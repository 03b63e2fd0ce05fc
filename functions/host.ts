/**
 * Hosts functions in one functions-framework process: the configuration (a bad one stops the process at once
 * with one line naming the variable), functions-framework's body parsing taken over, the platform started once
 * (adapters, migrations, keys), the internal server (/metrics, the detailed /readyz) and every function given
 * registered under its name. Two entries use it: functions/index.ts with the whole registry (development,
 * `functions-framework --source=functions/index.ts`), and each compiled bundle of `npm run build` with its one
 * function (deploy/build.ts), so a bundle loads that function's code and nothing of the others.
 *
 *   hostFunctions(functions);   // functions-framework's CLI loads this module and starts the server
 *   serveFunction(jwks);        // a bundle run by plain `node` starts the server itself
 */
import type { Server } from 'node:http';
import { loadConfig, type Config } from '../shared/config.ts';
import type { Deps } from '../shared/platform.ts';
import type { PlatformFunction } from '../shared/function.ts';
import { createFunctionPlatform } from './platform.ts';
import { frameworkModule, registerWithFunctionsFramework, takeOverBodyParsing } from '../shared/http/framework-host.ts';
import { startInternalServer } from '../shared/http/internal-server.ts';
import { whyNotListening } from '../shared/http/listen.ts';

function fail(error: unknown): never {
  console.error(`${(error as Error).name ?? 'Error'}: ${(error as Error).message}`);
  process.exit(1);
}

export function hostFunctions(functions: readonly PlatformFunction[]): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    fail(error);
  }
  takeOverBodyParsing(config.BODY_LIMIT_BYTES);
  const platform: Promise<Deps> = createFunctionPlatform(config);
  platform.catch(fail);
  // /metrics and the detailed /readyz, on METRICS_PORT: the public port answers only whether it is ready.
  platform
    .then(async (deps) => deps.log.info({ url: (await startInternalServer(deps)).url }, 'metrics and readiness detail'))
    .catch(fail);
  registerWithFunctionsFramework(functions, () => platform);
}

interface FrameworkOptions {
  port: string;
  target: string;
  signatureType: string;
}

/**
 * Hosts one function and starts functions-framework's server for it, as its CLI (`functions-framework --target`)
 * would, minus the CLI's module loader: that finds the source by reading package.json files up the tree and
 * imports it, about 60 ms of a cold start (measured on jwks, 430 ms against 500 ms spawn → first 200). PORT and
 * the other options are read by functions-framework's own option parser, so they mean what they meant under
 * the CLI; the target is this function whatever FUNCTION_TARGET says.
 */
export function serveFunction(fn: PlatformFunction): void {
  hostFunctions([fn]);
  // The same module instances framework-host.ts patched: functions-framework stays in node_modules, never bundled.
  const { parseOptions } = frameworkModule<{ parseOptions: () => FrameworkOptions }>('./options.js');
  const { getRegisteredFunction } = frameworkModule<{
    getRegisteredFunction: (name: string) => { userFunction: unknown; signatureType: string } | undefined;
  }>('./function_registry.js');
  const { getServer } = frameworkModule<{ getServer: (userFunction: unknown, options: FrameworkOptions) => Server }>('./server.js');
  const { ErrorHandler } = frameworkModule<{ ErrorHandler: new (server: Server) => { register(): void } }>('./invoker.js');
  const registered = getRegisteredFunction(fn.name);
  if (!registered) fail(new Error(`${fn.name} is not registered with functions-framework`));
  const options = { ...parseOptions(), target: fn.name, signatureType: registered.signatureType };
  const server = getServer(registered.userFunction, options);
  const errorHandler = new ErrorHandler(server);
  server.once('error', (error: NodeJS.ErrnoException) => fail(whyNotListening(error, { port: Number(options.port), host: 'every address' })));
  server.listen(Number(options.port), () => errorHandler.register()).setTimeout(0);
}
