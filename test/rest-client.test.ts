/**
 * Every route of every domain has a request in that domain's REST Client file (`functions/<domain>/<domain>.http`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpFunctions as functions } from '../functions/registry.ts';
import { repoRoot } from './support/processes.ts';

test('each function has a request in its domain .http file', () => {
  const domains = new Set(functions.map((fn) => fn.domain));
  for (const domain of domains) {
    const text = readFileSync(join(repoRoot, 'functions', domain, `${domain}.http`), 'utf8');
    const requests = [...text.matchAll(/^(GET|POST|PUT|PATCH|DELETE) \{\{base\}\}(\S+)/gm)].map(([, m, p]) => `${m} ${p!.split('?')[0]}`);
    for (const fn of functions.filter((f) => f.domain === domain)) {
      const pattern = new RegExp(`^${fn.method} ${fn.path.replace(/\{\w+\}/g, '[^/]+')}$`);
      assert.ok(requests.some((r) => pattern.test(r)), `${domain}.http lacks ${fn.method} ${fn.path}`);
    }
  }
});

test.run();
