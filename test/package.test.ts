/**
 * What npm does to the tree: it marks every `bin` of package.json executable, so each is committed executable
 * (with a shebang), or a newcomer's first `npm ci` leaves a modified file behind.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './support/processes.ts';

const pkg = suite('package.json');

pkg('every bin is committed executable and starts with a shebang', () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bins = Object.values(manifest.bin ?? {});
  assert.ok(bins.length > 0, 'package.json declares a bin');
  for (const bin of bins) {
    const staged = execFileSync('git', ['ls-files', '-s', '--', bin], { cwd: repoRoot, encoding: 'utf8' });
    assert.match(staged, /^100755 /, `${bin} is committed as ${staged.split(' ')[0] || 'nothing'}`);
    assert.match(readFileSync(join(repoRoot, bin), 'utf8'), /^#!/);
  }
});

pkg.run();
