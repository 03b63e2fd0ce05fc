/**
 * The functions-framework entry for development: `functions-framework --source=functions/index.ts --target=login`
 * (with NODE_OPTIONS="--import tsx") serves the function named by --target / FUNCTION_TARGET alone, from every
 * function of the registry (functions/host.ts). The image runs one compiled bundle per function instead
 * (deploy/build.ts).
 */
import { hostFunctions } from './host.ts';
import { functions } from './registry.ts';

hostFunctions(functions);
