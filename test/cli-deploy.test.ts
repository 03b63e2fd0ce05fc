/**
 * `iotfn render` and `iotfn deploy`: the checked-in artefacts are what render writes, a dry run prints the
 * image and apply commands, and a deploy on a machine without the tool stops at once with one line naming
 * it (exit 2) before running anything. No cluster, OpenFaaS or Docker engine is needed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageTag, imageVersion } from '../deploy/settings.ts';
import { imageTargets } from '../deploy/renderers/container.ts';
import { repoRoot } from './support/processes.ts';

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion, at most 60 s, with REGISTRY unset so image tags are the defaults. */
function iotfn(args: string[], env: Record<string, string> = {}): Ran {
  const { REGISTRY: _registry, ...inherited } = process.env;
  const ran = spawnSync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', ...args], {
    cwd: repoRoot,
    env: { ...inherited, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (ran.error) throw ran.error;
  return { status: ran.status, stdout: ran.stdout, stderr: ran.stderr };
}

/** As deploy/build-images.sh: one local build, a tag per function and process of the image. */
const local = `iotfn:${imageVersion}`;
const tags = imageTargets().map(imageTag);
const commandLines = (stdout: string) => stdout.split('\n').filter((line) => line && !line.startsWith('#'));

const dryRun = suite('iotfn deploy --dry-run');

dryRun('knative: one build, a tag and a push per target, then kubectl apply -k knative/', () => {
  const ran = iotfn(['deploy', '--target', 'knative', '--dry-run']);
  assert.is(ran.status, 0, ran.stderr);
  const lines = commandLines(ran.stdout);
  assert.is(lines[0], `docker build -t ${local} .`);
  for (const target of ['relay', 'bridge', 'login', 'ingestTelemetry']) assert.ok(tags.includes(imageTag(target)), target);
  for (const tag of tags) assert.ok(lines.includes(`docker tag ${local} ${tag}`), `tag ${tag}`);
  for (const tag of tags) assert.ok(lines.includes(`docker push ${tag}`), `push ${tag}`);
  assert.is(lines.at(-1), 'kubectl apply -k knative/');
  assert.is(lines.length, 1 + tags.length * 2 + 1);
});

dryRun('openfaas: the same images, then faas-cli deploy -f stack.yml', () => {
  const ran = iotfn(['deploy', '--target', 'openfaas', '--dry-run']);
  assert.is(ran.status, 0, ran.stderr);
  const lines = commandLines(ran.stdout);
  assert.is(lines[0], `docker build -t ${local} .`);
  assert.ok(lines.includes(`docker push ${tags.at(-1)}`));
  assert.is(lines.at(-1), 'faas-cli deploy -f stack.yml');
});

dryRun('compose: local images, no push, then docker compose up -d', () => {
  const ran = iotfn(['deploy', '--target', 'compose', '--dry-run']);
  assert.is(ran.status, 0, ran.stderr);
  const lines = commandLines(ran.stdout);
  assert.is(lines[0], `docker build -t ${local} .`);
  assert.not.ok(lines.some((line) => line.startsWith('docker push')));
  assert.is(lines.at(-1), 'docker compose up -d');
});

dryRun('an unknown or missing target exits 2 naming the choices', () => {
  for (const args of [['deploy', '--target', 'heroku', '--dry-run'], ['deploy', '--dry-run']]) {
    const ran = iotfn(args);
    assert.is(ran.status, 2);
    assert.match(ran.stderr, /--target must be one of knative, openfaas, compose/);
  }
});

const missing = suite('iotfn deploy without its tools');
const ctx: { bin?: string } = {};

missing.before(() => {
  // A PATH of one folder holding only a fake `docker` that logs its calls and fails (so no Compose plugin).
  ctx.bin = mkdtempSync(join(tmpdir(), 'iotfn-path-'));
  writeFileSync(join(ctx.bin, 'docker'), `#!/bin/sh\necho "$@" >> "${join(ctx.bin, 'docker.log')}"\nexit 1\n`);
  chmodSync(join(ctx.bin, 'docker'), 0o755);
});

missing('knative without kubectl and openfaas without faas-cli exit 2 naming the tool, having run nothing', () => {
  for (const [target, tool] of [['knative', 'kubectl'], ['openfaas', 'faas-cli']] as const) {
    const ran = iotfn(['deploy', '--target', target], { PATH: ctx.bin! });
    assert.is(ran.status, 2, `${target}: ${ran.stdout}${ran.stderr}`);
    assert.match(ran.stderr, new RegExp(`^deploy: ${tool} is not installed`));
    assert.is(ran.stderr.trim().split('\n').length, 1, 'one line');
  }
  assert.not.ok(existsSync(join(ctx.bin!, 'docker.log')), 'no docker command ran');
});

missing('compose without docker, or without its Compose plugin, exits 2 naming it', () => {
  const empty = mkdtempSync(join(tmpdir(), 'iotfn-empty-path-'));
  try {
    const noDocker = iotfn(['deploy', '--target', 'compose'], { PATH: empty });
    assert.is(noDocker.status, 2);
    assert.match(noDocker.stderr, /^deploy: docker is not installed/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  const noPlugin = iotfn(['deploy', '--target', 'compose'], { PATH: ctx.bin! });
  assert.is(noPlugin.status, 2);
  assert.match(noPlugin.stderr, /^deploy: docker compose is not available/);
  assert.is(readFileSync(join(ctx.bin!, 'docker.log'), 'utf8'), 'compose version\n', 'only the plugin probe ran');
});

missing.after(() => {
  if (ctx.bin) rmSync(ctx.bin, { recursive: true, force: true });
});

const render = suite('iotfn render --check');

render('exits 0 on the checked-in tree and writes nothing', () => {
  const ran = iotfn(['render', '--check']);
  assert.is(ran.status, 0, ran.stdout + ran.stderr);
  assert.match(ran.stdout, /render --check: \d+ files, 0 differ/);
});

dryRun.run();
missing.run();
render.run();
