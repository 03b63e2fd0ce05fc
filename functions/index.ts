/**
 * The functions-framework entry for development: `functions-framework --source=functions/index.ts --target=login`
 * (with NODE_OPTIONS="--import tsx") serves the function named by --target / FUNCTION_TARGET alone, from every
 * function of the registry (functions/host.ts). The image runs one compiled bundle per function instead
 * (deploy/build.ts). functions-framework imports this module and awaits it before it builds its server, so the
 * body parsing is taken over in time.
 */
import { hostFunctions } from './host.ts';
import { functions } from './registry.ts';

await hostFunctions(functions);
