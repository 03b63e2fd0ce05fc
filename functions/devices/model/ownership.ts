/**
 * Which devices a user may see, read from the devices domain's own table: the one answer every other
 * domain (monitoring's queries, the realtime relay) asks before showing a device's data. Ids from a client
 * are never trusted: an id the caller does not own is treated exactly like one that does not exist.
 */
import type { Queryable } from '../../../shared/ports/relational.ts';

export async function visibleDeviceIds(db: Queryable, ids: readonly string[], caller: { userId: string; role: string }): Promise<Set<string>> {
  const candidates = [...new Set(ids)].filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id));
  if (candidates.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>('SELECT id FROM devices WHERE id = ANY($1::uuid[]) AND (owner_id = $2 OR $3)', [
    candidates.map((id) => id.toLowerCase()),
    caller.userId,
    caller.role === 'admin',
  ]);
  return new Set(rows.map((r) => r.id));
}
