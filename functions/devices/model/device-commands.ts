/**
 * Commands to a device, persisted, each through one state machine whichever protocol carries it:
 *
 *   queued ──(delivered)──▶ sent ──(device's result)──▶ succeeded | failed
 *      └───────────────┴──(expires_at passes unanswered)──▶ expired
 *
 * The owner queues a command with a timeout (default 60 s, at most a day). Delivery marks it sent (HTTP when
 * the device polls, MQTT when the edge publishes it); a pending command is delivered again until answered, so
 * a device may see one twice and should act on its id once. A result is accepted once, while the command is
 * pending and not past its expiry; a sweep (the scheduled function expireCommands) expires the rest in batches (`FOR UPDATE
 * SKIP LOCKED`, so two sweepers never expire one command twice). A command past its expiry reads as expired
 * even before the sweep reaches it. Every change goes out as `command.updated` through the outbox.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../../../shared/platform.ts';
import type { Caller } from '../../../shared/function.ts';
import type { Queryable } from '../../../shared/ports/relational.ts';
import { Problem } from '../../../shared/problem.ts';
import { cloudEvent, type CloudEvent } from '../../../shared/events.ts';
import { enqueueEvents } from '../../../shared/outbox.ts';
import { eventTypes, exchanges } from '../../../shared/bus/topology.ts';
import type { Command, CommandData, CommandStatus } from '../../../shared/messages.ts';
import { findVisibleDevice } from './devices.ts';
import type { DeviceIdentity } from './device-auth.ts';
import { BoundedJson, DeviceConfigDocument, parseBounded } from './device-config.ts';
import { MAX_WAIT_MS, signalChange, waitForChange } from './device-changes.ts';
import { touchDevice } from './presence.ts';

export const MAX_COMMAND_TIMEOUT_SECONDS = 86_400;
/** Commands a device may have pending at once: a device that never answers must not grow its queue forever. */
export const MAX_PENDING_COMMANDS = 1000;
const pendingLimit = 100;
const expiryBatch = 500;

/** A command's status and public shape: what the API answers and `command.updated` carries (shared/messages.ts). */
export { Command, CommandStatus } from '../../../shared/messages.ts';

export const CommandName = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'names have 1 to 64 letters, digits or _ . : -');

/** What the owner sends. */
export const CommandRequest = z.object({
  name: CommandName,
  params: DeviceConfigDocument.optional(),
  timeoutSeconds: z.number().int().min(1).max(MAX_COMMAND_TIMEOUT_SECONDS).optional().describe('Default 60'),
});
export type CommandRequest = z.input<typeof CommandRequest>;

/** What the device answers. */
export const CommandResult = z.object({ status: z.enum(['succeeded', 'failed']), result: BoundedJson.optional() });

/** What a device receives. */
export const DeviceCommandMessage = z.object({ id: z.uuid(), name: z.string(), params: z.record(z.string(), z.unknown()), expiresAt: z.iso.datetime() });
export type DeviceCommandMessage = z.output<typeof DeviceCommandMessage>;

export function toDeviceMessage(command: Command): DeviceCommandMessage {
  return { id: command.id, name: command.name, params: command.params, expiresAt: command.expiresAt };
}

interface CommandRow {
  id: string;
  device_id: string;
  owner_id: string;
  name: string;
  params: Record<string, unknown>;
  status: CommandStatus;
  result: unknown;
  created_at: Date;
  sent_at: Date | null;
  completed_at: Date | null;
  expires_at: Date;
}

const columnNames = ['id', 'device_id', 'owner_id', 'name', 'params', 'status', 'result', 'created_at', 'sent_at', 'completed_at', 'expires_at'];
const commandColumns = columnNames.join(', ');
const ms = "date_trunc('milliseconds', now())";
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isPending = (status: CommandStatus) => status === 'queued' || status === 'sent';
const isFinished = (command: Command) => !isPending(command.status);

export function toCommand(row: CommandRow, now = Date.now()): Command {
  const overdue = isPending(row.status) && row.expires_at.getTime() <= now;
  return {
    id: row.id,
    deviceId: row.device_id,
    name: row.name,
    params: row.params,
    status: overdue ? 'expired' : row.status,
    result: row.result ?? null,
    createdAt: row.created_at.toISOString(),
    sentAt: row.sent_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
    expiresAt: row.expires_at.toISOString(),
  };
}

function commandUpdated(row: CommandRow): { routingKey: string; event: CloudEvent } {
  return {
    routingKey: 'command.updated',
    event: cloudEvent<CommandData>({
      type: eventTypes.command('command.updated'),
      source: '/devices',
      subject: row.device_id,
      data: { deviceId: row.device_id, ownerId: row.owner_id, command: toCommand(row) },
    }),
  };
}

/** After a commit: the outbox goes now, and long polls of the devices look again. */
async function announce(deps: Pick<Deps, 'cache' | 'outbox' | 'log'>, rows: readonly CommandRow[]): Promise<void> {
  if (rows.length === 0) return;
  deps.outbox.nudge();
  for (const deviceId of new Set(rows.map((r) => r.device_id))) await signalChange(deps, 'commands', deviceId);
}

/** Queues a command to a device the caller may see (404 otherwise). */
export async function createCommand(
  deps: Pick<Deps, 'db' | 'cache' | 'outbox' | 'log'>,
  caller: Pick<Caller, 'userId' | 'role'>,
  deviceId: string,
  request: CommandRequest,
): Promise<Command> {
  const input = parseBounded(CommandRequest, request, 'body');
  const row = await deps.db.transaction(async (tx) => {
    const device = await findVisibleDevice(tx, deviceId, caller);
    if (!device) throw new Problem('not-found', `No device ${deviceId}`);
    const { rows: counted } = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM device_commands WHERE device_id = $1 AND status IN ('queued', 'sent') LIMIT $2) pending`,
      [device.id, MAX_PENDING_COMMANDS],
    );
    if ((counted[0]?.n ?? 0) >= MAX_PENDING_COMMANDS) {
      throw new Problem('conflict', `Device ${device.id} already has ${MAX_PENDING_COMMANDS} commands pending; wait for them to complete or expire`);
    }
    const { rows } = await tx.query<CommandRow>(
      `INSERT INTO device_commands (id, device_id, owner_id, name, params, status, expires_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, 'queued', ${ms} + $6::int * interval '1 second')
       RETURNING ${commandColumns}`,
      [randomUUID(), device.id, device.owner_id, input.name, JSON.stringify(input.params ?? {}), input.timeoutSeconds ?? 60],
    );
    await enqueueEvents(tx, exchanges.events, [commandUpdated(rows[0]!)]);
    return rows[0]!;
  });
  await announce(deps, [row]);
  return toCommand(row);
}

/** A command of the device, or undefined. */
export async function findCommand(db: Queryable, deviceId: string, commandId: string): Promise<Command | undefined> {
  if (!uuidPattern.test(commandId)) return undefined;
  const { rows } = await db.query<CommandRow>(`SELECT ${commandColumns} FROM device_commands WHERE id = $1 AND device_id = $2`, [commandId, deviceId]);
  return rows[0] ? toCommand(rows[0]) : undefined;
}

async function commandById(db: Queryable, commandId: string): Promise<Command | undefined> {
  if (!uuidPattern.test(commandId)) return undefined;
  const { rows } = await db.query<CommandRow>(`SELECT ${commandColumns} FROM device_commands WHERE id = $1`, [commandId]);
  return rows[0] ? toCommand(rows[0]) : undefined;
}

const PageCursor = z.object({ at: z.iso.datetime(), id: z.uuid() });

/** A device's commands newest first, `limit` at a time; `nextCursor` continues after the last one. */
export async function commandPage(
  db: Queryable,
  deviceId: string,
  page: { limit: number; cursor?: string },
): Promise<{ commands: Command[]; nextCursor: string | null }> {
  const args: unknown[] = [deviceId, page.limit + 1];
  let after = '';
  if (page.cursor) {
    let cursor: z.output<typeof PageCursor>;
    try {
      cursor = PageCursor.parse(JSON.parse(Buffer.from(page.cursor, 'base64url').toString('utf8')));
    } catch {
      throw new Problem('validation', 'The cursor is not one this list gave', { errors: [{ path: 'query.cursor', message: 'not a cursor of this list' }] });
    }
    args.push(cursor.at, cursor.id);
    after = 'AND (created_at, id) < ($3::timestamptz, $4::uuid)';
  }
  const { rows } = await db.query<CommandRow>(
    `SELECT ${commandColumns} FROM device_commands WHERE device_id = $1 ${after} ORDER BY created_at DESC, id DESC LIMIT $2`,
    args,
  );
  const commands = rows.slice(0, page.limit).map((row) => toCommand(row));
  const last = commands[commands.length - 1];
  const nextCursor = rows.length > page.limit && last ? Buffer.from(JSON.stringify({ at: last.createdAt, id: last.id })).toString('base64url') : null;
  return { commands, nextCursor };
}

/** Commands the device still has to do (queued or sent, not expired), oldest first, at most 100. */
export async function pendingCommands(db: Queryable, deviceId: string): Promise<Command[]> {
  const { rows } = await db.query<CommandRow>(
    `SELECT ${commandColumns} FROM device_commands
      WHERE device_id = $1 AND status IN ('queued', 'sent') AND expires_at > now()
      ORDER BY created_at, id LIMIT ${pendingLimit}`,
    [deviceId],
  );
  return rows.map((row) => toCommand(row));
}

/** Marks the device's queued commands among `ids` as sent (delivered); returns those it moved, oldest first. */
export async function markCommandsSent(deps: Pick<Deps, 'db' | 'cache' | 'outbox' | 'log'>, deviceId: string, ids: readonly string[]): Promise<Command[]> {
  const valid = ids.filter((id) => uuidPattern.test(id));
  if (valid.length === 0) return [];
  const moved = await deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<CommandRow>(
      `UPDATE device_commands SET status = 'sent', sent_at = ${ms}
        WHERE device_id = $1 AND id = ANY($2::uuid[]) AND status = 'queued' AND expires_at > now()
        RETURNING ${commandColumns}`,
      [deviceId, valid],
    );
    await enqueueEvents(tx, exchanges.events, rows.map(commandUpdated));
    return rows;
  });
  await announce(deps, moved);
  return moved.map((row) => toCommand(row)).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * Records the device's answer `{status: 'succeeded' | 'failed', result?}` to one of its commands: 404 for a
 * command that is not the device's, 409 `command-expired` past its expiry, 409 `conflict` when already answered.
 */
export async function completeCommand(
  deps: Pick<Deps, 'db' | 'cache' | 'bus' | 'outbox' | 'log'>,
  device: DeviceIdentity,
  commandId: string,
  body: unknown,
): Promise<Command> {
  const answer = parseBounded(CommandResult, body, 'body');
  if (!uuidPattern.test(commandId)) throw new Problem('not-found', `No command ${commandId}`);
  const row = await deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<CommandRow & { overdue: boolean }>(
      `SELECT ${commandColumns}, expires_at <= now() AS overdue FROM device_commands WHERE id = $1 AND device_id = $2 FOR UPDATE`,
      [commandId, device.id],
    );
    const current = rows[0];
    if (!current) throw new Problem('not-found', `No command ${commandId}`);
    if (current.status === 'expired' || (isPending(current.status) && current.overdue)) {
      throw new Problem('command-expired', `Command ${commandId} expired at ${current.expires_at.toISOString()}`);
    }
    if (!isPending(current.status)) throw new Problem('conflict', `Command ${commandId} is already ${current.status}`);
    const { rows: updated } = await tx.query<CommandRow>(
      `UPDATE device_commands SET status = $2, result = $3::jsonb, completed_at = ${ms}, sent_at = coalesce(sent_at, ${ms})
        WHERE id = $1 RETURNING ${commandColumns}`,
      [commandId, answer.status, answer.result === undefined ? null : JSON.stringify(answer.result)],
    );
    await enqueueEvents(tx, exchanges.events, [commandUpdated(updated[0]!)]);
    return updated[0]!;
  });
  await announce(deps, [row]);
  await touchDevice(deps, device).catch((error: unknown) => deps.log.warn({ err: error, deviceId: device.id }, 'presence update failed'));
  return toCommand(row);
}

/** Expires every pending command past its expiry at `now`, in batches; returns how many. */
export async function expireCommands(deps: Pick<Deps, 'db' | 'cache' | 'outbox' | 'log'>, now = Date.now()): Promise<number> {
  const returning = columnNames.map((c) => `c.${c}`).join(', ');
  let total = 0;
  for (;;) {
    const expired = await deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<CommandRow>(
        `UPDATE device_commands c SET status = 'expired'
           FROM (SELECT id FROM device_commands
                  WHERE status IN ('queued', 'sent') AND expires_at <= $1::timestamptz
                  ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
          WHERE c.id = due.id AND c.status IN ('queued', 'sent')
          RETURNING ${returning}`,
        [new Date(now).toISOString(), expiryBatch],
      );
      await enqueueEvents(tx, exchanges.events, rows.map(commandUpdated));
      return rows;
    });
    await announce(deps, expired);
    total += expired.length;
    if (expired.length < expiryBatch) return total;
  }
}

/**
 * Waits until the command is finished (succeeded, failed or expired) or `untilMs` (epoch ms; bounded by the
 * command's expiry and MAX_WAIT_MS) passes; answers its state then, undefined for an unknown id.
 */
export async function waitForCommand(deps: Pick<Deps, 'db' | 'cache'>, commandId: string, untilMs: number): Promise<Command | undefined> {
  const first = await commandById(deps.db, commandId);
  if (!first || isFinished(first)) return first;
  const deadline = Math.min(untilMs, Date.parse(first.expiresAt), Date.now() + MAX_WAIT_MS);
  // An owner waits on one command at a time: a closer look than the devices' long polls take.
  const finished = await waitForChange(deps, 'commands', first.deviceId, deadline, async () => {
    const command = await commandById(deps.db, commandId);
    return command && isFinished(command) ? command : undefined;
  }, 25);
  return finished ?? (await commandById(deps.db, commandId));
}

/** Waits until the device has a pending command or `untilMs` passes; answers the pending ones (maybe none). */
export async function waitForPendingCommands(deps: Pick<Deps, 'db' | 'cache'>, deviceId: string, untilMs: number): Promise<Command[]> {
  const pending = await waitForChange(deps, 'commands', deviceId, untilMs, async () => {
    const commands = await pendingCommands(deps.db, deviceId);
    return commands.length > 0 ? commands : undefined;
  });
  return pending ?? [];
}
