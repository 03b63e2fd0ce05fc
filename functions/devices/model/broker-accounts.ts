/**
 * The production broker's device accounts, kept in line with the devices table: one device at a time as its
 * events arrive (the bridge), and all at once on request (`iotfn broker-accounts`: a new or emptied broker
 * volume, events applied while the plugin's file was lost).
 */
import type { Deps } from '../../../shared/platform.ts';
import type { AccountChange } from './device-downlink.ts';
import { deriveDeviceToken, deviceTokenSecret } from './device-tokens.ts';
import { deleteDeviceAccount, isHarmless, upsertDeviceAccount, type DynamicSecurity, type DynsecCommand, type DynsecResponse } from './dynamic-security.ts';

interface AccountRow {
  id: string;
  status: 'active' | 'disabled';
  token_generation: number | null;
}

function failures(responses: DynsecResponse[]): string[] {
  return responses.filter((r) => !isHarmless(r)).map((r) => `${r.command}: ${r.error}`);
}

async function runAll(dynsec: DynamicSecurity, commands: DynsecCommand[], timeoutMs?: number): Promise<void> {
  const failed = failures(await dynsec.run(commands, timeoutMs));
  if (failed.length) throw new Error(`the broker refused ${failed.length} account command(s): ${failed.slice(0, 3).join('; ')}`);
}

function accountCommands(deps: Pick<Deps, 'config'>, row: AccountRow, setPassword: boolean): DynsecCommand[] {
  if (row.token_generation === null) return [];
  const password = deriveDeviceToken(deviceTokenSecret(deps.config), row.id, row.token_generation);
  return upsertDeviceAccount({ id: row.id, password, disabled: row.status === 'disabled' }, { setPassword });
}

export async function syncDeviceAccount(deps: Pick<Deps, 'db' | 'config' | 'log'>, dynsec: DynamicSecurity, deviceId: string, change: AccountChange): Promise<void> {
  const { rows } = await deps.db.query<AccountRow>('SELECT id, status, token_generation FROM devices WHERE id = $1', [deviceId]);
  const row = rows[0];
  if (row && row.token_generation === null) {
    deps.log.warn({ deviceId }, 'device has a token from before derived tokens: rotate it to connect over MQTT');
  }
  await runAll(dynsec, row ? accountCommands(deps, row, change === 'rotated') : deleteDeviceAccount(deviceId));
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const batch = 200;

/** Creates the accounts the broker lacks and deletes those of devices that are gone; returns the counts. */
export async function reconcileDeviceAccounts(deps: Pick<Deps, 'db' | 'config' | 'log'>, dynsec: DynamicSecurity): Promise<{ created: number; deleted: number }> {
  const [listed] = await dynsec.run([{ command: 'listClients', count: -1, offset: 0 }], 60_000);
  if (!listed || listed.error) throw new Error(`the broker did not list its clients: ${listed?.error ?? 'no answer'}`);
  const onBroker = new Set(((listed.data?.clients as string[] | undefined) ?? []).filter((name) => uuid.test(name)));
  const { rows } = await deps.db.query<AccountRow>('SELECT id, status, token_generation FROM devices WHERE token_generation IS NOT NULL');
  const missing = rows.filter((row) => !onBroker.has(row.id));
  const inTable = new Set(rows.map((row) => row.id));
  const gone = [...onBroker].filter((id) => !inTable.has(id));
  for (let i = 0; i < missing.length; i += batch) {
    await runAll(dynsec, missing.slice(i, i + batch).flatMap((row) => accountCommands(deps, row, false)), 120_000);
  }
  for (let i = 0; i < gone.length; i += batch) {
    await runAll(dynsec, gone.slice(i, i + batch).flatMap((id) => deleteDeviceAccount(id)), 120_000);
  }
  return { created: missing.length, deleted: gone.length };
}
