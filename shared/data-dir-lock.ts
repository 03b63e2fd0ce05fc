/**
 * One process per embedded data directory. PGlite is one PostgreSQL backend inside one process: a second
 * process opening the same folder (the README's one-function command beside `npm start`) does not share it,
 * it works on a copy that diverges, so a user registered through one cannot log in through the other. The
 * first process to open DATA_DIR writes its pid into `DATA_DIR/iotfn.lock`; a second one stops with one line
 * naming DATA_DIR and what to do.
 *
 * A lock whose process is gone (a crash, a killed terminal) is taken over; so is one naming this very pid,
 * which is what a container restarted on the same volume finds (its pid is 1 again).
 *
 *   const lock = lockDataDir(config.DATA_DIR);   // throws ConfigError when another process holds it
 *   ...
 *   lock.release();
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from './config.ts';

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'iotfn.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        if (holderOf(file) === process.pid) rmSync(file, { force: true });
      };
      process.once('exit', release);
      return { file, release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = holderOf(file);
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new ConfigError(
          `DATA_DIR: ${resolve(dir)} is in use by another iotfn process (pid ${holder}); stop it, or give this process a DATA_DIR of its own, or point both at one DATABASE_URL`,
        );
      }
      // Stale: its process is gone. Remove it and try once more; if another process wins that race, it holds it.
      rmSync(file, { force: true });
    }
  }
  throw new ConfigError(`DATA_DIR: ${resolve(dir)} was locked by another iotfn process starting at the same moment; start one at a time`);
}

function holderOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
