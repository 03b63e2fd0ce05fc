/**
 * `npm test`: runs every `test/**\/*.test.ts` suite with uvu and ends with the line `N passed, N failed`.
 *
 * uvu has no timeouts, so a watchdog ends a run that hangs. uvu also reports a suite whose `before` hook
 * threw as "0 / N" without failing the run; counting failed = total − passed catches that.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const limitMs = Number(process.env.TEST_TIMEOUT_MS ?? 25 * 60 * 1000);
const pattern = process.argv[2] ?? '\\.test\\.ts$';

const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern], {
  cwd: root,
  env: { ...process.env, NODE_ENV: 'test' },
  stdio: ['ignore', 'pipe', 'inherit'],
});

let output = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});

const watchdog = setTimeout(() => {
  process.stderr.write(`\ntest run exceeded ${limitMs / 1000} s; stopping it\n`);
  child.kill('SIGKILL');
}, limitMs);

child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    process.stdout.write(`\nthe test run ended (${signal ?? `exit ${code}`}) before uvu printed its totals\n0 passed, 1 failed\n`);
    process.exit(1);
  }
  const failed = total - passed;
  process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(failed > 0 || code !== 0 ? 1 : 0);
});
