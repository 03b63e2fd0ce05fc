/**
 * Builds the dashboard into one folder the gateway serves as is: `index.html` at `/`, every other file at
 * `/app/<file>` (`app.js` and its source map, `styles.css`, `uPlot.min.css`).
 *
 *   const { outDir } = await buildDashboard();   // <repo>/dashboard/dist
 *   node --import tsx dashboard/build.ts          // the same from a shell
 *
 * esbuild bundles in tens of milliseconds, so under tsx the gateway builds at start instead of shipping a build
 * step. Compiled (`npm run build`, deploy/build.ts) there are no sources to build from: the build put the dashboard
 * beside this module's place in dist/ (dist/dashboard), and that is what is served, so the image needs no esbuild.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const compiled = !existsSync(join(here, 'src', 'main.ts'));

export async function buildDashboard(outDir = compiled ? here : join(here, 'dist')): Promise<{ outDir: string }> {
  if (compiled) {
    if (!existsSync(join(outDir, 'index.html'))) throw new Error(`dashboard: no sources to build from and no built dashboard in ${outDir} (npm run build makes it)`);
    return { outDir };
  }
  // Loaded here: only a build needs esbuild, and the compiled image has none.
  const { build } = await import('esbuild');
  const uplotCss = createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css');
  await mkdir(outDir, { recursive: true });
  await Promise.all([
    build({
      entryPoints: [join(here, 'src', 'main.ts')],
      outfile: join(outDir, 'app.js'),
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2020',
      minify: true,
      sourcemap: true,
      logLevel: 'silent',
    }),
    copyFile(join(here, 'index.html'), join(outDir, 'index.html')),
    copyFile(join(here, 'styles.css'), join(outDir, 'styles.css')),
    copyFile(uplotCss, join(outDir, 'uPlot.min.css')),
  ]);
  return { outDir };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const { outDir } = await buildDashboard();
  console.log(`dashboard built into ${outDir} in ${Math.round(performance.now() - started)} ms`);
}
