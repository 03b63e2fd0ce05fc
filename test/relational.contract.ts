/**
 * The behaviour every adapter of the relational port must show (shared/ports/relational.ts).
 * Each adapter's test file calls `relationalContract` once; the suite runs against whatever `make` returns.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Relational } from '../shared/ports/relational.ts';

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.unreachable('expected a rejection');
}

const sqlState = (error: unknown): unknown => (error as { code?: unknown }).code;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function relationalContract(
  name: string,
  make: () => Promise<Relational>,
  cleanup?: () => Promise<void>,
): void {
  const test = suite<{ db: Relational }>(`relational contract: ${name}`);
  // Unique per run, so runs against a shared server never meet each other's rows.
  const items = `contract_items_${randomBytes(4).toString('hex')}`;
  const counters = `contract_counters_${randomBytes(4).toString('hex')}`;

  test.before(async (ctx) => {
    ctx.db = await make();
    await ctx.db.query(`CREATE TABLE ${items} (id serial PRIMARY KEY, name text UNIQUE NOT NULL, n int NOT NULL DEFAULT 0)`);
    await ctx.db.query(`CREATE TABLE ${counters} (id int PRIMARY KEY, n int NOT NULL)`);
  });

  test.after(async ({ db }) => {
    if (db) {
      await db.query(`DROP TABLE IF EXISTS ${items}; DROP TABLE IF EXISTS ${counters}`);
      await db.close();
    }
    await cleanup?.();
  });

  test('ping resolves', async ({ db }) => {
    await db.ping();
  });

  test('select with $n params', async ({ db }) => {
    const result = await db.query<{ n: number; s: string }>('SELECT $1::int AS n, $2::text AS s', [41, 'forty-one']);
    assert.equal(result.rows, [{ n: 41, s: 'forty-one' }]);
    assert.is(result.rowCount, 1);
  });

  test('maps values as the port documents', async ({ db }) => {
    const at = new Date('2024-05-06T07:08:09.123Z');
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT $1::timestamptz AS at, 9007199254740993::int8 AS big, $2::int8 AS big_param,
              12345678901234567890.0123::numeric AS num, 7::int4 AS small,
              '{"a":[1,"x"]}'::jsonb AS doc, $3::jsonb AS doc_param, '[1,2]'::json AS list,
              true AS yes, false AS no, NULL::text AS nothing,
              'b1a7e8a2-7d39-4c86-9a55-1f6a4f3c2d10'::uuid AS id`,
      [at, '9007199254740993', { nested: { ok: true } }],
    );
    const row = rows[0]!;
    assert.instance(row.at, Date);
    assert.is((row.at as Date).getTime(), at.getTime());
    assert.is(row.big, '9007199254740993');
    assert.is(row.big_param, '9007199254740993');
    assert.is(row.num, '12345678901234567890.0123');
    assert.is(row.small, 7);
    assert.equal(row.doc, { a: [1, 'x'] });
    assert.equal(row.doc_param, { nested: { ok: true } });
    assert.equal(row.list, [1, 2]);
    assert.is(row.yes, true);
    assert.is(row.no, false);
    assert.is(row.nothing, null);
    assert.is(row.id, 'b1a7e8a2-7d39-4c86-9a55-1f6a4f3c2d10');
  });

  test('rowCount is rows affected by writes and rows returned by reads', async ({ db }) => {
    const inserted = await db.query(`INSERT INTO ${items} (name) VALUES ($1), ($2), ($3)`, ['rc-a', 'rc-b', 'rc-c']);
    assert.is(inserted.rowCount, 3);
    const updated = await db.query(`UPDATE ${items} SET n = n + 1 WHERE name IN ($1, $2)`, ['rc-a', 'rc-b']);
    assert.is(updated.rowCount, 2);
    const none = await db.query(`UPDATE ${items} SET n = 0 WHERE name = $1`, ['missing']);
    assert.is(none.rowCount, 0);
    const selected = await db.query(`SELECT name FROM ${items} WHERE name LIKE $1`, ['rc-%']);
    assert.is(selected.rowCount, 3);
    const deleted = await db.query(`DELETE FROM ${items} WHERE name LIKE $1`, ['rc-%']);
    assert.is(deleted.rowCount, 3);
  });

  test('transaction commits and returns what work returns', async ({ db }) => {
    const id = await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: number }>(`INSERT INTO ${items} (name) VALUES ($1) RETURNING id`, ['commit']);
      return rows[0]!.id;
    });
    const { rows } = await db.query(`SELECT name FROM ${items} WHERE id = $1`, [id]);
    assert.equal(rows, [{ name: 'commit' }]);
  });

  test('transaction rolls back and rethrows when work throws', async ({ db }) => {
    const boom = new Error('boom');
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${items} (name) VALUES ($1)`, ['rolled-back']);
        throw boom;
      }),
    );
    assert.is(error, boom);
    const { rowCount } = await db.query(`SELECT 1 FROM ${items} WHERE name = $1`, ['rolled-back']);
    assert.is(rowCount, 0);
  });

  test('statements in a transaction see their own writes', async ({ db }) => {
    const seen = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${items} (name, n) VALUES ($1, 5)`, ['own-write']);
      await tx.query(`UPDATE ${items} SET n = n * 2 WHERE name = $1`, ['own-write']);
      const { rows } = await tx.query<{ n: number }>(`SELECT n FROM ${items} WHERE name = $1`, ['own-write']);
      return rows[0]?.n;
    });
    assert.is(seen, 10);
  });

  test('a statement outside an open transaction never sees its uncommitted writes', async ({ db }) => {
    let inserted!: () => void;
    const insertedSignal = new Promise<void>((resolve) => (inserted = resolve));
    let workDone = false;
    const transaction = db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${items} (name) VALUES ($1)`, ['isolated']);
      inserted();
      // Long enough for the outside statement below to run now unless something holds it back.
      await pause(100);
      workDone = true;
    });
    await Promise.race([insertedSignal, transaction]);
    // On PGlite this waits for the commit; on a server it runs beside the transaction. Either is
    // fine; seeing the row while the transaction is still open is not.
    const { rowCount } = await db.query(`SELECT 1 FROM ${items} WHERE name = $1`, ['isolated']);
    const workDoneWhenRead = workDone;
    await transaction;
    if (rowCount > 0) assert.ok(workDoneWhenRead, 'saw a row the transaction had not committed');
  });

  test('concurrent read-then-write transactions lose no update', async ({ db }) => {
    await db.query(`INSERT INTO ${counters} (id, n) VALUES (1, 0)`);
    const events: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db.transaction(async (tx) => {
          events.push(`begin ${i}`);
          const { rows } = await tx.query<{ n: number }>(`SELECT n FROM ${counters} WHERE id = 1 FOR UPDATE`);
          await pause(2);
          await tx.query(`UPDATE ${counters} SET n = $1 WHERE id = 1`, [rows[0]!.n + 1]);
          events.push(`end ${i}`);
        }),
      ),
    );
    const { rows } = await db.query<{ n: number }>(`SELECT n FROM ${counters} WHERE id = 1`);
    assert.is(rows[0]!.n, 20);
    if (db.kind === 'pglite') {
      // One backend: each transaction must finish before the next one starts.
      for (let i = 0; i < events.length; i += 2) {
        assert.is(events[i + 1]!.slice(4), events[i]!.slice(6), `transactions interleaved: ${events.join(', ')}`);
      }
    }
  });

  test('unique violation rejects with SQLSTATE 23505', async ({ db }) => {
    await db.query(`INSERT INTO ${items} (name) VALUES ($1)`, ['unique']);
    const error = await rejection(db.query(`INSERT INTO ${items} (name) VALUES ($1)`, ['unique']));
    assert.instance(error, Error);
    assert.is(sqlState(error), '23505');

    const inTransaction = await rejection(
      db.transaction((tx) => tx.query(`INSERT INTO ${items} (name) VALUES ($1)`, ['unique'])),
    );
    assert.is(sqlState(inTransaction), '23505');
    // The store is usable afterwards: the failed transaction was rolled back, not left open.
    const { rowCount } = await db.query(`SELECT 1 FROM ${items} WHERE name = $1`, ['unique']);
    assert.is(rowCount, 1);
  });

  test('a text of several statements without params runs whole, answering with the last', async ({ db }) => {
    const result = await db.query<{ c: number }>(
      `INSERT INTO ${items} (name) VALUES ('multi-a');
       INSERT INTO ${items} (name) VALUES ('multi-b');
       SELECT count(*)::int AS c FROM ${items} WHERE name LIKE 'multi-%';`,
    );
    assert.equal(result.rows, [{ c: 2 }]);
    assert.is(result.rowCount, 1);

    const inTransaction = await db.transaction((tx) =>
      tx.query(`DELETE FROM ${items} WHERE name = 'multi-a'; DELETE FROM ${items} WHERE name LIKE 'multi-%'`),
    );
    assert.is(inTransaction.rowCount, 1);
    assert.equal(inTransaction.rows, []);

    const ddl = await db.query(`CREATE INDEX ${items}_n ON ${items} (n); DROP INDEX ${items}_n`);
    assert.equal(ddl, { rows: [], rowCount: 0 });
  });

  // Unique per run as the tables are: two runs against one server must not hold each other's locks.
  const lockName = (what: string) => `contract-${what}-${items}`;

  test('withTryLock: of two at once exactly one runs; the other skips without waiting', async ({ db }) => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let runs = 0;
    const first = db.withTryLock(lockName('once'), async () => {
      runs++;
      await gate;
      return 'first';
    });
    // The first call holds the lock once its work has started.
    while (runs === 0) await pause(5);
    const second = await db.withTryLock(lockName('once'), async () => {
      runs++;
      return 'second';
    });
    assert.equal(second, { ran: false });
    open();
    assert.equal(await first, { ran: true, value: 'first' });
    assert.is(runs, 1);
    // Released: the next one runs.
    assert.equal(await db.withTryLock(lockName('once'), async () => 'again'), { ran: true, value: 'again' });
  });

  test('withTryLock: locks of other names do not block each other, and work can use the store', async ({ db }) => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let started = false;
    const holding = db.withTryLock(lockName('a'), async () => {
      started = true;
      await gate;
    });
    while (!started) await pause(5);
    const other = await db.withTryLock(lockName('b'), async () => {
      const { rows } = await db.query<{ n: number }>('SELECT 2 AS n');
      return db.transaction(async (tx) => (await tx.query<{ n: number }>('SELECT $1::int + 1 AS n', [rows[0]!.n])).rows[0]!.n);
    });
    assert.equal(other, { ran: true, value: 3 });
    open();
    await holding;
  });

  test('withTryLock: released after a throw, which it passes on', async ({ db }) => {
    const boom = new Error('boom');
    assert.is(await rejection(db.withTryLock(lockName('throw'), async () => { throw boom; })), boom);
    assert.equal(await db.withTryLock(lockName('throw'), async () => 'after'), { ran: true, value: 'after' });
  });

  test('withTryLock: released for every other session, not only the one that held it', async ({ db }) => {
    assert.equal(await db.withTryLock(lockName('sessions'), async () => 'held'), { ran: true, value: 'held' });
    // A session may take its own advisory lock again, so a lock left held would go unnoticed by the session that
    // held it. pg's pool hands out the connection released last first: the transaction sits on that session, and
    // the lock is tried from another one.
    const inside = await db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      return db.withTryLock(lockName('sessions'), async () => 'from another session');
    });
    assert.equal(inside, { ran: true, value: 'from another session' });
  });

  test('withTryLock: many runs in a row, failing or not, leave nothing held (no lock, no connection)', async ({ db }) => {
    // More runs than any test pool has connections: a run that kept its connection would starve the later ones.
    for (let i = 0; i < 12; i++) {
      const outcome = await db
        .withTryLock(lockName('many'), async () => {
          if (i % 3 === 0) throw new Error(`run ${i}`);
          return i;
        })
        .catch(() => 'threw');
      assert.equal(outcome, i % 3 === 0 ? 'threw' : { ran: true, value: i });
    }
    await db.ping();
  });

  test.run();
}
