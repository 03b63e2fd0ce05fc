/**
 * `iotfn completion bash|zsh`, loaded into a real bash the way a user loads it, and asked what it completes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { repoRoot } from './support/processes.ts';
import { fleetFlags } from '../simulators/fleet-options.ts';

const completion = suite('iotfn completion');

const script = (shell: string) => spawnSync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'completion', shell], { cwd: repoRoot, encoding: 'utf8' });

/** What the script offers for a command line typed so far (the last word is the one being completed). */
function complete(words: string[]): string[] {
  const source = script('bash');
  assert.is(source.status, 0, source.stderr);
  const line = words.map((w) => `'${w}'`).join(' ');
  const run = spawnSync('bash', ['-c', `${source.stdout}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _iotfn; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p iotfn >&2`], {
    encoding: 'utf8',
  });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stderr, /complete -F _iotfn iotfn/);
  return run.stdout.split('\n').filter(Boolean);
}

completion('bash completes commands, help <command>, completion <shell> and the simulator\'s flags', () => {
  assert.equal(complete(['iotfn', 'si']), ['simulate']);
  assert.equal(complete(['iotfn', 'd']).sort(), ['dead-letters', 'deploy', 'dev']);
  assert.ok(complete(['iotfn', '']).includes('help'), 'help is a command');
  assert.equal(complete(['iotfn', 'help', 'rel']), ['relay']);
  assert.equal(complete(['iotfn', 'completion', '']), ['bash', 'zsh']);
  assert.equal(complete(['iotfn', 'simulate', '--mq']), ['--mqtt-url']);
  // Every flag the simulator parses completes: the script is written from the same record.
  assert.equal(complete(['iotfn', 'simulate', '--']).sort(), Object.keys(fleetFlags).map((name) => `--${name}`).sort());
  assert.equal(complete(['iotfn', 'agent', '--to']), ['--token']);
});

completion('zsh gets the same function through bashcompinit', () => {
  const zsh = script('zsh');
  assert.is(zsh.status, 0, zsh.stderr);
  assert.match(zsh.stdout, /bashcompinit/);
  assert.ok(zsh.stdout.includes(script('bash').stdout.split('\n').slice(1).join('\n')), 'the same completion function as bash');
  const hasZsh = spawnSync('zsh', ['--version']).status === 0;
  if (!hasZsh) {
    console.log('  (skipped: loading the script into zsh: zsh is not installed here; bash -n checks its syntax instead)');
    assert.is(spawnSync('bash', ['-n', '-c', zsh.stdout]).status, 0);
    return;
  }
  const run = spawnSync('zsh', ['-c', `${zsh.stdout}\nprint -r -- \${+functions[_iotfn]}`], { encoding: 'utf8' });
  assert.is(run.stdout.trim(), '1', run.stderr);
});

completion('a missing or unknown shell is a usage error: one line, exit 2', () => {
  for (const args of [[], ['fish']]) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'completion', ...args], { cwd: repoRoot, encoding: 'utf8' });
    assert.is(run.status, 2);
    assert.match(run.stderr.split('\n')[0]!, /^iotfn: completion: expected one of bash, zsh/);
  }
});

completion.run();
