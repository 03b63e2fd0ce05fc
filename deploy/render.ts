/**
 * Every deploy artefact, rendered from the function registry: adding a function adds it to the images,
 * Compose, NGINX, Knative, OpenFaaS and the monitoring config at once. `iotfn render` writes them;
 * test/deploy-artefacts.test.ts fails when a checked-in file differs from what this renders.
 */
import { renderContainerArtefacts } from './renderers/container.ts';
import { renderCompose } from './renderers/compose.ts';
import { renderNginx } from './renderers/nginx.ts';
import { renderObservability } from './renderers/observability.ts';
import { renderKnative } from './renderers/knative.ts';
import { renderOpenFaas } from './renderers/openfaas.ts';

export interface RenderedFile {
  /** Path from the repository root. */
  path: string;
  content: string;
}

export function renderAll(): RenderedFile[] {
  return [
    ...renderContainerArtefacts(),
    ...renderCompose(),
    ...renderNginx(),
    ...renderObservability(),
    ...renderKnative(),
    ...renderOpenFaas(),
  ];
}
