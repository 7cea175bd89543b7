/**
 * Build status of each component, judged the way `os build` judges it: by the cache key (the
 * hash of its declared inputs, toolchain identity and command), never by file times. `built`: the
 * outputs in place are the cached outputs of the current key; `stale`: outputs exist but the key
 * changed (or they were touched since); `not built`: no outputs.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { workspace, type ExecutorKind, type TarsConfig } from '@tars/core';
import { ComponentCache } from './cache.js';
import { resolveToolchain, stepKey } from './components.js';
import { sha256File } from './hash-inputs.js';
import { createBuildPlan } from './plan.js';

export type BuildState = 'built' | 'stale' | 'not built';

export interface ComponentStatus {
  id: string;
  state: BuildState;
  /** The current cache key; undefined when the component's toolchain is missing. */
  inputsHash?: string;
  outputs: string[];
}

export async function componentStatus(opts: { root: string; config: TarsConfig; executor?: ExecutorKind | 'auto' }): Promise<ComponentStatus[]> {
  const plan = createBuildPlan(opts.config);
  const cache = new ComponentCache(resolve(opts.root, opts.config.cache.dir), opts.config.cache.maxSizeMb * 1024 * 1024);
  const ctx = { root: opts.root, config: opts.config, cache, executor: opts.executor ?? (opts.config.executor.default as ExecutorKind | 'auto'), logDir: workspace(opts.root).buildLogs, toolchains: new Map() };
  const out: ComponentStatus[] = [];
  for (const step of plan.steps) {
    const present = step.outputs.every((o) => existsSync(join(opts.root, o)));
    const tc = await resolveToolchain(ctx, step.toolchain).catch(() => undefined);
    if (!tc) {
      out.push({ id: step.id, state: present ? 'stale' : 'not built', outputs: step.outputs });
      continue;
    }
    const key = stepKey(step, opts.root, tc);
    const entry = cache.peek(key);
    let state: BuildState = present ? 'stale' : 'not built';
    if (present && entry) {
      const same = step.outputs.every((o) => {
        const f = entry.files.find((x) => x.path === o);
        return f !== undefined && sha256File(join(opts.root, o)) === f.sha256;
      });
      if (same) state = 'built';
    }
    out.push({ id: step.id, state, inputsHash: key, outputs: step.outputs });
  }
  return out;
}
