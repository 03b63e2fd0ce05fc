/**
 * Page cursors: the position after a page's last item, as opaque base64url JSON that the next request
 * hands back. A cursor comes from the client, so decoding parses it with the list's zod schema: garbage,
 * another list's cursor or forged values are a 400 `validation` problem, never a query the database refuses.
 *
 *   const Position = z.object({ at: z.iso.datetime(), id: z.uuid() });
 *   nextCursor = encodeCursor({ at: last.openedAt, id: last.id });
 *   const after = decodeCursor(Position, query.cursor, 'query.cursor', 'not a cursor of this list');
 */
import type { z } from 'zod';
import { Problem } from './problem.ts';

export function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The position a cursor holds, parsed with the list's schema; a 400 naming `path` when it is not one. */
export function decodeCursor<S extends z.ZodType>(schema: S, cursor: string, path: string, message = 'not a cursor of this list'): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Problem('validation', `${path}: ${message}`, { errors: [{ path, message }] });
  return parsed.data;
}
