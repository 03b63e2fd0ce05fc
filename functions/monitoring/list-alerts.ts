/** GET /alerts: the caller's alerts (an admin's: everyone's), newest first, paged with nextCursor. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { decodeCursor, encodeCursor } from '../../shared/cursor.ts';
import { Alert, alertColumns, toAlert, type AlertRow } from './model/alerts.ts';

/** The position after a page's last alert. */
const Position = z.object({ at: z.iso.datetime(), id: z.uuid() });

export default defineHttpFunction({
  name: 'listAlerts',
  domain: 'monitoring',
  method: 'GET',
  path: '/alerts',
  auth: 'user',
  summary: 'List alerts, newest first (open or cleared, of one device)',
  query: z.object({
    state: z.enum(['open', 'cleared']).optional(),
    deviceId: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(500).optional().describe('nextCursor of the previous page'),
  }),
  responses: { 200: z.object({ items: z.array(Alert), nextCursor: z.string().nullable() }) },
  async handler({ query, user, deps }) {
    const where = ['(owner_id = $1 OR $2)'];
    const args: unknown[] = [user.userId, user.role === 'admin'];
    const add = (value: unknown) => `$${args.push(value)}`;
    if (query.state) where.push(`state = ${add(query.state)}`);
    if (query.deviceId) where.push(`device_id = ${add(query.deviceId)}::uuid`);
    if (query.cursor) {
      const cursor = decodeCursor(Position, query.cursor, 'query.cursor');
      where.push(`(opened_at, id) < (${add(cursor.at)}::timestamptz, ${add(cursor.id)}::uuid)`);
    }
    const { rows } = await deps.db.query<AlertRow>(
      `SELECT ${alertColumns} FROM alerts WHERE ${where.join(' AND ')} ORDER BY opened_at DESC, id DESC LIMIT ${add(query.limit + 1)}`,
      args,
    );
    const page = rows.slice(0, query.limit).map(toAlert);
    const last = page[page.length - 1];
    const nextCursor = rows.length > query.limit && last ? encodeCursor({ at: last.openedAt, id: last.id }) : null;
    return { status: 200, body: { items: page, nextCursor } };
  },
});
