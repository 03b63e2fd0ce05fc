/**
 * A bound on concurrent work in this process (password hashing, the triggers' calls of their functions): at most
 * `concurrency` tasks run at once and at most `queue` wait for a turn (`Infinity` for no bound); past that `run`
 * refuses at once, so a burst costs bounded memory and a bounded wait instead of piling up.
 *
 *   const slots = createWorkSlots({ concurrency: 4, queue: 32 });
 *   const hash = await slots.run(() => argon2.hash(password)); // WorkSlotsFull when 4 run and 32 wait
 */
export class WorkSlotsFull extends Error {
  override name = 'WorkSlotsFull';
}

export interface WorkSlots {
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly running: number;
  readonly waiting: number;
  /** The most tasks that ever ran at once: what shows the bound holds. */
  readonly mostRunningAtOnce: number;
}

export function createWorkSlots(limits: { concurrency: number; queue: number }): WorkSlots {
  if (!Number.isSafeInteger(limits.concurrency) || limits.concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${limits.concurrency}`);
  let running = 0;
  let mostRunningAtOnce = 0;
  const turns: Array<() => void> = [];

  return {
    async run(task) {
      if (running < limits.concurrency) {
        running++;
      } else {
        if (turns.length >= limits.queue) throw new WorkSlotsFull(`${running} tasks running and ${turns.length} waiting`);
        // A finishing task hands its slot over without freeing it, so nobody can take it in between.
        await new Promise<void>((resolve) => turns.push(resolve));
      }
      mostRunningAtOnce = Math.max(mostRunningAtOnce, running);
      try {
        return await task();
      } finally {
        const next = turns.shift();
        if (next) next();
        else running--;
      }
    },
    get running() {
      return running;
    },
    get waiting() {
      return turns.length;
    },
    get mostRunningAtOnce() {
      return mostRunningAtOnce;
    },
  };
}
