/**
 * Mosquitto's dynamic-security plugin, driven over `$CONTROL/dynamic-security/v1`: the production broker's
 * device accounts, kept in line with the devices table by the bridge.
 *
 * Each device is a client (username = device id, password = its derived token) with a role of its own that
 * allows exactly its topics (device-topics.ts): Mosquitto 2.0 has no `%u` in dynamic-security ACLs, so the
 * role cannot be shared. Changing a client's password, disabling or deleting it disconnects the device at once
 * (verified on 2.0.11: DISCONNECT 0x98); enabling does not.
 *
 * Requests go one at a time on one connection and are matched to their response by correlation data; the
 * plugin saves its JSON file after every request, so commands travel in batches, never one per message.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { devicePublishFilters, deviceSubscribeTopics, deviceTopics } from './device-topics.ts';

export const controlTopic = '$CONTROL/dynamic-security/v1';
const responseTopic = `${controlTopic}/response`;

export interface DynsecCommand {
  command: string;
  [field: string]: unknown;
}

export interface DynsecResponse {
  command: string;
  error?: string;
  data?: Record<string, unknown>;
  correlationData?: string;
}

/** Errors that mean "already so": creating what exists, deleting what is gone. */
const alreadySo = /already|not found|does not exist/i;

export function isHarmless(response: DynsecResponse): boolean {
  return response.error === undefined || alreadySo.test(response.error);
}

export interface DynamicSecurity {
  /** Runs commands in one request; resolves with one response per command, in order. */
  run(commands: DynsecCommand[], timeoutMs?: number): Promise<DynsecResponse[]>;
}

export async function dynamicSecurity(client: MqttClient): Promise<DynamicSecurity> {
  const waiting = new Map<string, (responses: DynsecResponse[]) => void>();
  client.on('message', (topic, payload) => {
    if (topic !== responseTopic) return;
    let responses: DynsecResponse[];
    try {
      responses = (JSON.parse(payload.toString('utf8')) as { responses: DynsecResponse[] }).responses;
    } catch {
      return;
    }
    const id = responses[0]?.correlationData;
    if (!id) return;
    waiting.get(id)?.(responses);
  });
  await client.subscribeAsync(responseTopic, { qos: 1 });
  let queue: Promise<unknown> = Promise.resolve();
  return {
    run(commands, timeoutMs = 10_000) {
      if (commands.length === 0) return Promise.resolve([]);
      const id = randomUUID();
      const request = async (): Promise<DynsecResponse[]> => {
        let timer: NodeJS.Timeout | undefined;
        const answered = new Promise<DynsecResponse[]>((resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from the broker's dynamic security within ${timeoutMs} ms`)), timeoutMs);
          waiting.set(id, resolve);
        });
        try {
          const message = JSON.stringify({ commands: commands.map((c) => ({ ...c, correlationData: id })) });
          const [, responses] = await Promise.all([client.publishAsync(controlTopic, message, { qos: 1 }), answered]);
          return responses;
        } finally {
          clearTimeout(timer);
          waiting.delete(id);
        }
      };
      const result = queue.then(request, request);
      queue = result.catch(() => undefined);
      return result;
    },
  };
}

export const deviceRole = (deviceId: string) => `device:${deviceId}`;

/** The role of one device: publish its uplink topics, subscribe its downlink topics, nothing else. */
export function deviceRoleAcls(deviceId: string) {
  return [
    ...devicePublishFilters(deviceId).map((topic) => ({ acltype: 'publishClientSend', topic, allow: true })),
    ...deviceSubscribeTopics(deviceId).map((topic) => ({ acltype: 'subscribeLiteral', topic, allow: true })),
  ];
}

export interface DeviceAccount {
  id: string;
  password: string;
  disabled: boolean;
}

/**
 * Brings a device's account to the given state whatever the broker held before: creating what is missing
 * (errors for what exists are harmless), setting the password only when asked (it disconnects the device).
 */
export function upsertDeviceAccount(account: DeviceAccount, options: { setPassword: boolean }): DynsecCommand[] {
  const role = deviceRole(account.id);
  return [
    { command: 'createRole', rolename: role, acls: deviceRoleAcls(account.id) },
    { command: 'createClient', username: account.id, password: account.password, roles: [{ rolename: role }] },
    ...(options.setPassword ? [{ command: 'setClientPassword', username: account.id, password: account.password }] : []),
    { command: account.disabled ? 'disableClient' : 'enableClient', username: account.id },
  ];
}

export function deleteDeviceAccount(deviceId: string): DynsecCommand[] {
  return [
    { command: 'deleteClient', username: deviceId },
    { command: 'deleteRole', rolename: deviceRole(deviceId) },
  ];
}

/** What the platform's own account (the bridge) needs beyond the admin role `dynsec init` gives it. */
export const platformRole = 'iotfn-platform';

export function platformAccount(username: string): DynsecCommand[] {
  return [
    {
      command: 'createRole',
      rolename: platformRole,
      acls: [deviceTopics.config('+'), deviceTopics.commands('+')].map((topic) => ({ acltype: 'publishClientSend', topic, allow: true })),
    },
    { command: 'addClientRole', username, rolename: platformRole },
  ];
}
