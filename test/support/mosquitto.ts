/**
 * The project's production broker for tests: Debian's Mosquitto 2 running the configuration `iotfn render` writes
 * (deploy/renderers/compose.ts, `mosquittoFiles`) with its dynamic-security plugin, on two free loopback ports
 * (devices' and platform's listeners) and a data folder of its own, bootstrapped as the Compose service does it
 * (`mosquitto_ctrl dynsec init` with the admin account, then the folder handed to the mosquitto user).
 *
 *   const broker = await startProjectMosquitto();
 *   const admin = await mqtt.connectAsync(broker.platformUrl, { protocolVersion: 5 });   // the bridge's account
 *   await dynsecCommands(admin, [{ command: 'createClient', username: 'd-1', password: 'secret' }]);
 *   await broker.restart();   // same ports, same data folder: accounts and persistence survive
 *   await broker.stop();      // also removes the data folder
 *
 * Every wait is bounded; a broker that does not come up fails with its own output.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { dynamicSecurityFile, mosquittoFiles, mqttBridgeUser } from '../../deploy/renderers/compose.ts';
import { freePort, startProcess, type Started } from './processes.ts';
import { dynamicSecurity, type DynamicSecurity, type DynsecCommand, type DynsecResponse } from '../../functions/devices/model/dynamic-security.ts';

export interface ProjectMosquitto {
  /** The devices' listener, without credentials: `mqtt://127.0.0.1:P` (the client id is forced to the user name there). */
  devicesUrl: string;
  /** The platform's listener with the admin account: `mqtt://iotfn-bridge:PASSWORD@127.0.0.1:P2`. */
  platformUrl: string;
  devicePort: number;
  platformPort: number;
  /** Password of the admin account (`mqttBridgeUser`), what MQTT_BRIDGE_PASSWORD is in Compose. */
  adminPassword: string;
  /** The folder of mosquitto.conf; the broker's data (dynamic-security.json, mosquitto.db) is in `data/` under it. */
  dir: string;
  /** What the broker has logged since it was last started. */
  output(): string;
  /** Stops the broker (SIGTERM, so it writes its persistence file) and removes `dir`. */
  stop(): Promise<void>;
  /** SIGTERM, then the broker again on the same ports and data folder. */
  restart(): Promise<void>;
}

/** How long a start may take before it fails with the broker's output. */
const startTimeoutMs = 10_000;

let pluginPathFound: string | undefined;

/** Where Debian's mosquitto package put the dynamic-security plugin (`dpkg -L mosquitto`), or a usual place. */
export function dynamicSecurityPlugin(): string {
  if (pluginPathFound) return pluginPathFound;
  const listed = spawnSync('dpkg', ['-L', 'mosquitto'], { encoding: 'utf8', timeout: 10_000 });
  const fromDpkg = (listed.stdout ?? '').split('\n').find((line) => /mosquitto_dynamic_security\.so$/.test(line.trim()))?.trim();
  const candidates = [
    ...(process.env.TEST_MOSQUITTO_DYNSEC_PLUGIN ? [process.env.TEST_MOSQUITTO_DYNSEC_PLUGIN] : []),
    ...(fromDpkg ? [fromDpkg] : []),
    '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
    '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
    '/usr/lib/mosquitto_dynamic_security.so',
    '/usr/local/lib/mosquitto_dynamic_security.so',
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`no mosquitto_dynamic_security.so (looked at ${candidates.join(', ')}): apt-get install mosquitto (2.0 or later)`);
  pluginPathFound = found;
  return found;
}

/** The uid and gid Mosquitto drops to when started as root; undefined when it runs as this user. */
function mosquittoUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'mosquitto'], { encoding: 'utf8', timeout: 5000 });
  const [uid, gid] = [id('-u'), id('-g')];
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Gives the data folder and everything in it to the user Mosquitto runs as: it writes both files there. */
function handOver(dataDir: string): void {
  const owner = mosquittoUser();
  if (!owner) return;
  chownSync(dataDir, owner.uid, owner.gid);
  for (const name of readdirSync(dataDir)) chownSync(join(dataDir, name), owner.uid, owner.gid);
}

/** Two distinct free loopback ports. */
async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  for (let i = 0; i < 20; i++) {
    const second = await freePort();
    if (second !== first) return [first, second];
  }
  throw new Error('no second free port');
}

export async function startProjectMosquitto(): Promise<ProjectMosquitto> {
  const pluginPath = dynamicSecurityPlugin();
  const [devicePort, platformPort] = await twoFreePorts();
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-mosquitto-'));
  // Mosquitto reads the configuration as root, then drops to its own user, which must reach the data folder.
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const adminPassword = randomBytes(18).toString('hex');
  const confPath = join(dir, 'mosquitto.conf');
  const { conf } = mosquittoFiles({ devicesListener: `${devicePort} 127.0.0.1`, platformListener: `${platformPort} 127.0.0.1`, dataDir, pluginPath });
  writeFileSync(confPath, conf);
  // What the Compose service does on its first start.
  const init = spawnSync('mosquitto_ctrl', ['dynsec', 'init', join(dataDir, dynamicSecurityFile), mqttBridgeUser, adminPassword], { encoding: 'utf8', timeout: 10_000 });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mosquitto_ctrl dynsec init failed (${init.error?.message ?? `exit ${init.status}`}): ${init.stdout}${init.stderr}`);
  }
  handOver(dataDir);

  const devicesUrl = `mqtt://127.0.0.1:${devicePort}`;
  const platformUrl = `mqtt://${mqttBridgeUser}:${adminPassword}@127.0.0.1:${platformPort}`;
  let started: Started | undefined;

  const start = async () => {
    handOver(dataDir);
    // Line-buffered, so output() has the log up to now (Mosquitto buffers stdout written to a pipe).
    const current = startProcess('stdbuf', ['-oL', 'mosquitto', '-c', confPath], {});
    started = current;
    const deadline = Date.now() + startTimeoutMs;
    let lastError = '';
    for (;;) {
      const client = await mqtt
        .connectAsync(platformUrl, { protocolVersion: 5, connectTimeout: 1000, reconnectPeriod: 0 })
        .catch((error: Error) => ((lastError = error.message), undefined));
      if (client) {
        await client.endAsync(true);
        return;
      }
      if (current.child.exitCode !== null || current.child.signalCode !== null) {
        throw new Error(`mosquitto exited (${current.child.exitCode ?? current.child.signalCode}) before it accepted the admin account: ${current.output()}`);
      }
      if (Date.now() > deadline) {
        await current.stop();
        throw new Error(`mosquitto did not accept the admin account within ${startTimeoutMs} ms (last: ${lastError}): ${current.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const halt = async () => {
    await started?.stop();
  };

  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    devicesUrl,
    platformUrl,
    devicePort,
    platformPort,
    adminPassword,
    dir,
    output: () => started?.output() ?? '',
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await start();
    },
  };
}

export type { DynsecCommand, DynsecResponse };

const sessions = new WeakMap<mqtt.MqttClient, Promise<DynamicSecurity>>();

/**
 * Sends commands to the dynamic-security plugin on a client signed in as the admin account, and returns the
 * plugin's responses (one per command, in order; `error` set where one failed), through the platform's own
 * client of the plugin (functions/devices/model/dynamic-security.ts). Bounded by `timeoutMs`.
 */
export async function dynsecCommands(admin: mqtt.MqttClient, commands: DynsecCommand[], timeoutMs = 5000): Promise<DynsecResponse[]> {
  let session = sessions.get(admin);
  if (!session) sessions.set(admin, (session = dynamicSecurity(admin)));
  return (await session).run(commands, timeoutMs);
}
