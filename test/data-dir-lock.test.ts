/**
 * One process per embedded data directory (shared/data-dir-lock.ts): a live holder stops the second process
 * with a line naming DATA_DIR; a lock left by a process that is gone is taken over.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDataDir } from '../shared/data-dir-lock.ts';
import { ConfigError } from '../shared/config.ts';

const lock = suite('data directory lock');
const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-lock-'));
  dirs.push(dir);
  return dir;
};

lock('takes a free directory, records its pid, and frees it on release', () => {
  const dir = freshDir();
  const held = lockDataDir(dir);
  assert.is(readFileSync(held.file, 'utf8').trim(), String(process.pid));
  held.release();
  assert.not.ok(existsSync(held.file));
  lockDataDir(dir).release();
});

lock('a directory held by another live process stops this one with a line naming DATA_DIR', async () => {
  const dir = freshDir();
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    writeFileSync(join(dir, 'iotfn.lock'), `${other.pid}\n`);
    try {
      lockDataDir(dir);
      assert.unreachable('the second lock was granted');
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.match((error as Error).message, new RegExp(`^DATA_DIR: .* is in use by another iotfn process \\(pid ${other.pid}\\)`));
    }
    // Refusing does not take the holder's lock away.
    assert.is(readFileSync(join(dir, 'iotfn.lock'), 'utf8').trim(), String(other.pid));
  } finally {
    other.kill('SIGKILL');
  }
});

lock('a lock left by a process that is gone is taken over', async () => {
  const dir = freshDir();
  const gone = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => gone.once('exit', resolve));
  writeFileSync(join(dir, 'iotfn.lock'), `${gone.pid}\n`);
  const held = lockDataDir(dir);
  assert.is(readFileSync(held.file, 'utf8').trim(), String(process.pid));
  held.release();
});

lock.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
lock.run();
