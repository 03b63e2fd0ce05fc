/**
 * The command line behaves as command lines do: help asked for goes to stdout with exit 0, a command line that
 * cannot run is one line and the usage on stderr with exit 2, and a reader closing the pipe early is no crash.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { repoRoot } from './support/processes.ts';

const cli = suite('iotfn command-line conventions');

function iotfn(args: string[], shell?: string) {
  const run = shell
    ? spawnSync('bash', ['-o', 'pipefail', '-c', shell], { cwd: repoRoot, encoding: 'utf8' })
    : spawnSync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

cli('--help, help and help <command> print the usage on stdout and exit 0', () => {
  for (const args of [['--help'], ['-h'], ['help'], ['help', 'relay'], ['functions', '--help'], []]) {
    const run = iotfn(args);
    assert.is(run.code, 0, args.join(' '));
    assert.match(run.out, /^usage: iotfn <command>/, args.join(' '));
    assert.is(run.err, '', args.join(' '));
  }
});

cli('an unknown command or a mistyped flag: one line, then the usage, on stderr; exit 2', () => {
  for (const [args, line] of [
    [['nope'], 'iotfn: no command "nope"'],
    [['help', 'nope'], 'iotfn: no command "nope"'],
    [['dev', '--nope'], "iotfn: Unknown option '--nope'"],
  ] as const) {
    const run = iotfn([...args]);
    assert.is(run.code, 2, args.join(' '));
    assert.is(run.out, '');
    const [first, blank, usage] = run.err.split('\n');
    assert.is(first, line);
    assert.is(blank, '');
    assert.is(usage, 'usage: iotfn <command>');
  }
});

cli('a reader that closes the pipe early ends the output quietly', () => {
  // The OpenAPI document is far larger than a pipe's buffer, so the writer meets the closed pipe (EPIPE).
  const run = iotfn([], 'node --import tsx bin/iotfn.ts openapi | head -c 20');
  assert.match(run.out, /^\{/);
  assert.is(run.code, 0, run.err);
  assert.not.match(run.err, /EPIPE|Error/);
});

cli('simulate and agent name themselves in their usage, as iotfn sub-commands', () => {
  for (const command of ['simulate', 'agent']) {
    const run = iotfn([command, '--help']);
    assert.is(run.code, 0, run.err);
    assert.match(run.out, new RegExp(`^usage: iotfn ${command} --url URL`));
    assert.not.match(run.out, /\.ts\b/, `${command}'s usage names no source file`);
  }
});

cli('an unreachable platform is one line naming the URL and why, never "fetch failed"', async () => {
  // A port nothing listens on: taken and released at once.
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: taken } = server.address() as AddressInfo;
      server.close(() => resolve(taken));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const credentials = ['--email', 'a@example.com', '--password', 'a long enough password', '--duration', '1'];
  // Without --mqtt-url the simulator asks GET /info first; with it, it goes straight to logging in.
  for (const [extra, path] of [[[], '/info'], [['--mqtt-url', 'mqtt://127.0.0.1:1'], '/auth/login']] as const) {
    const run = iotfn(['simulate', '--url', url, ...credentials, ...extra]);
    assert.is(run.code, 1, run.err);
    assert.is(run.err, `Unreachable: cannot reach ${url}${path}: nothing listens there: is the server running? (ECONNREFUSED)\n`);
    assert.not.match(run.err, /fetch failed|TypeError|\n\s+at /);
  }
});

cli.run();
