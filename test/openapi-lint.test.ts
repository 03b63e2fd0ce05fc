/**
 * The OpenAPI document against Redocly's `recommended` rules, run by Redocly's own linter (@redocly/openapi-core,
 * what `redocly lint` runs): what a client generator or a docs site meets when it reads /openapi.json.
 *
 * No error is allowed. Of the warnings, only `info-license` stands: which licence the platform is published under is
 * its maintainers' decision (package.json declares none), not something the document can make up.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { buildOpenApi } from '../shared/http/openapi.ts';
import { httpFunctions } from '../functions/registry.ts';
import { version } from '../shared/version.ts';

const lint = suite("the OpenAPI document under Redocly's recommended rules");

const acceptedWarnings = new Set(['info-license']);

lint('no error, and no warning but the licence', async () => {
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: JSON.stringify(buildOpenApi(httpFunctions, { version })), absoluteRef: 'openapi.json', config });
  const said = (severity: string) =>
    problems.filter((problem) => problem.severity === severity).map((problem) => `${problem.ruleId} at ${problem.location[0]?.pointer ?? '?'}: ${problem.message}`);
  assert.equal(said('error'), [], 'errors');
  const warnings = problems.filter((problem) => problem.severity === 'warn');
  assert.equal(warnings.filter((problem) => !acceptedWarnings.has(problem.ruleId)).map((problem) => `${problem.ruleId} at ${problem.location[0]?.pointer ?? '?'}: ${problem.message}`), [], 'warnings');
  for (const warning of warnings) console.log(`  accepted warning: ${warning.ruleId}: ${warning.message}`);
});

lint.run();
