/**
 * The functions-framework entry: `functions-framework --source=functions/index.ts --target=login`
 * (with NODE_OPTIONS="--import tsx") serves the function named by --target / FUNCTION_TARGET alone.
 * The platform (adapters, migrations, keys) starts once per process; a bad configuration stops the
 * process at once with one line naming the variable.
 */
import { loadConfig } from '../shared/config.ts';
import type { Deps } from '../shared/platform.ts';
import { createFunctionPlatform } from './platform.ts';
import { registerWithFunctionsFramework, takeOverBodyParsing } from '../shared/http/framework-host.ts';
import { startInternalServer } from '../shared/http/internal-server.ts';
import { functions } from './registry.ts';

function fail(error: unknown): never {
  console.error(`${(error as Error).name ?? 'Error'}: ${(error as Error).message}`);
  process.exit(1);
}

let config;
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
