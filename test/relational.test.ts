/**
 * Runs the relational contract on both adapters: `pg` against the test server and PGlite in memory,
 * and checks that PGlite given a directory keeps its data across a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPglite } from '../shared/adapters/relational/pglite.ts';
import { createPostgres } from '../shared/adapters/relational/postgres.ts';
import { relationalContract } from './relational.contract.ts';
import { services } from './support/services.ts';

relationalContract('postgres', async () => createPostgres(services.databaseUrl, { max: 5, applicationName: 'relational-test' }));
relationalContract('pglite in memory', () => createPglite());

const onDisk = suite<{ dir: string }>('pglite on disk');

onDisk.before(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'pglite-'));
});

onDisk.after(async ({ dir }) => {
  await rm(dir, { recursive: true, force: true });
});

onDisk('creates missing directories and keeps data across a restart', async ({ dir }) => {
  const dataDir = join(dir, 'nested', 'pg');
  const first = await createPglite(dataDir);
  try {
    await first.query('CREATE TABLE kept (note text); INSERT INTO kept VALUES ($$still here$$)');
  } finally {
    await first.close();
  }
  const second = await createPglite(dataDir);
  try {
    const { rows } = await second.query('SELECT note FROM kept');
    assert.equal(rows, [{ note: 'still here' }]);
  } finally {
    await second.close();
  }
});

onDisk.run();
