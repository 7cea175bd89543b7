// prepack: put what `tarscli init` and `agent new` need into the npm package (assets/): the agent
// templates and the kernel workspace sources. In the repository they are read in place.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const assets = `${pkg}assets`;
rmSync(assets, { recursive: true, force: true });
cpSync(`${repo}templates`, `${assets}/templates`, { recursive: true });
const kernel = `${repo}packages/kernel-rs`;
cpSync(kernel, `${assets}/kernel`, {
  recursive: true,
  filter: (src) => !/^(target|out|node_modules|\.test-results)(\/|$)/.test(relative(kernel, src)),
});
