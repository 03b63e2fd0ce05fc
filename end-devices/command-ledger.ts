/**
 * Acting on each command once. The platform delivers a command at least once: again after a reconnect, after
 * every state report, and until it is answered. A device therefore keeps, per command id, the result it worked
 * out and whether the answer got through: a repeat of an answered command is ignored, a repeat of one whose
 * answer failed gets the same result sent again (the command is not run twice).
 *
 *   const ledger = new CommandLedger((command) => command.name === 'ping' ? ping() : unknown(command));
 *   await ledger.take(command, (result) => api.answer(command.id, result));   // false for a repeat
 */
import type { CommandResult, DeviceCommand } from './device-api.ts';

interface Entry {
  result: Promise<CommandResult>;
  delivery?: Promise<void> | undefined;
  delivered: boolean;
}

/** The answer to a command this device does not know. */
export const unknownCommand = (command: DeviceCommand): CommandResult => ({ status: 'failed', result: { error: `unknown command ${command.name}` } });

export class CommandLedger {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly run: (command: DeviceCommand) => CommandResult | Promise<CommandResult>,
    /** Ids remembered; the oldest are forgotten beyond it (a command is pending a day at most). */
    private readonly limit = 10_000,
  ) {}

  /**
   * Runs the command the first time its id comes and hands the result to `deliver` until that succeeds once.
   * Resolves true when this call delivered the answer, false when that had been done (or is under way);
   * rejects when the delivery failed.
   */
  async take(command: DeviceCommand, deliver: (result: CommandResult) => Promise<unknown>): Promise<boolean> {
    let entry = this.entries.get(command.id);
    if (!entry) {
      // A handler that throws still answers: the command failed, and saying so ends its redelivery.
      const result = Promise.resolve()
        .then(() => this.run(command))
        .catch((error: unknown): CommandResult => ({ status: 'failed', result: { error: (error as Error).message } }));
      entry = { result, delivered: false };
      this.entries.set(command.id, entry);
      if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
    }
    if (entry.delivered) return false;
    if (entry.delivery) {
      await entry.delivery;
      return false;
    }
    const current = entry;
    current.delivery = current.result.then(deliver).then(
      () => void (current.delivered = true),
      (error: unknown) => {
        current.delivery = undefined;
        throw error;
      },
    );
    await current.delivery;
    return true;
  }
}
