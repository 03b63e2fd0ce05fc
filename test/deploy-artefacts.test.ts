/**
 * The checked-in deploy artefacts are exactly what `iotfn render` writes from the registry (a change to a
 * function, a route or a config variable that was not re-rendered fails here), and every YAML file of
 * them parses. knative/ holds nothing that render does not write.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { renderAll } from '../deploy/render.ts';
import { repoRoot } from './support/processes.ts';

const rendered = renderAll();
const artefacts = suite('deploy artefacts');

artefacts('every rendered file is checked in as rendered (run `iotfn render` after a change)', () => {
  const paths = rendered.map((f) => f.path);
  assert.is(new Set(paths).size, paths.length, 'two renderers write one path');
  const stale = rendered.filter((f) => {
    const target = join(repoRoot, f.path);
    return !existsSync(target) || readFileSync(target, 'utf8') !== f.content;
  });
  assert.equal(stale.map((f) => f.path), []);
});

artefacts('every rendered YAML file parses without errors, knative/ and stack.yml among them', () => {
  const yamlFiles = rendered.filter((f) => /\.ya?ml$/.test(f.path));
  assert.ok(yamlFiles.some((f) => f.path === 'stack.yml'));
  assert.ok(yamlFiles.some((f) => f.path === 'knative/kustomization.yaml'));
  for (const file of yamlFiles) {
    const docs = parseAllDocuments(readFileSync(join(repoRoot, file.path), 'utf8'));
    assert.ok(Array.isArray(docs) && docs.length > 0, `${file.path}: no document`);
    for (const doc of docs) assert.equal(doc.errors.map((e) => e.message), [], file.path);
  }
});

artefacts('knative/ holds only rendered files (a function removed from the registry leaves no file behind)', () => {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)]));
  const present = walk(join(repoRoot, 'knative')).map((p) => relative(repoRoot, p));
  const paths = new Set(rendered.map((f) => f.path));
  assert.equal(present.filter((p) => !paths.has(p)), []);
});

artefacts.run();
