/**
 * What a fleet run counts: messages sent, acknowledged, failed (by kind), readings skipped by dropouts,
 * slots missed while a send still waited, and the values inside the acknowledged messages (the platform
 * stores one row per value, so that is the number to compare with storage); configurations applied and
 * commands answered.
 */
export interface DeviceCount {
  id: string;
  acked: number;
  valuesAcked: number;
}

export class FleetStats {
  sent = 0;
  acked = 0;
  errors = 0;
  dropouts = 0;
  missed = 0;
  valuesAcked = 0;
  configsApplied = 0;
  commandsAnswered = 0;
  readonly errorKinds = new Map<string, number>();
  readonly perDevice: DeviceCount[] = [];
  readonly startedAt: number;

  constructor(now = Date.now()) {
    this.startedAt = now;
  }

  device(id: string): DeviceCount {
    const entry = { id, acked: 0, valuesAcked: 0 };
    this.perDevice.push(entry);
    return entry;
  }

  ack(device: DeviceCount, values: number): void {
    this.acked++;
    this.valuesAcked += values;
    device.acked++;
    device.valuesAcked += values;
  }

  fail(kind: string): void {
    this.errors++;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }
}
