/**
 * BENCH_CPU_PROF=directory: the node flags that make a bench's gateway write its V8 CPU profile there when it is
 * stopped, in a directory of its own per process (tsx's loader thread writes a profile of its own beside the main
 * one). Empty when the variable is unset.
 *
 *   startServer(name, process.execPath, [...cpuProfileFlags(name), '--import', 'tsx', 'bin/iotfn.ts', 'dev'], env, port);
 */
import { runId } from './platform-env.ts';

export function cpuProfileFlags(name: string): string[] {
  const dir = process.env.BENCH_CPU_PROF || undefined;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}/${name}-${runId}`] : [];
}
