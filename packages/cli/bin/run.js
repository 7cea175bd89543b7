#!/usr/bin/env node
// tarscli. First the fast start (dist/fast/main.js, src/fast/run.ts): one of tarscli's own
// commands, named first on the line, runs without oclif's Config.load or oclif itself, and help
// (no arguments, --help/-h, `help`, a topic alone) is rendered by oclif's Help class from the
// manifest (src/fast/help.ts). Whatever it leaves (unknown commands, a line oclif's parser must
// judge, a setup the fast help cannot reproduce) goes to oclif's execute from the bundle
// (dist/main.js, built by scripts/bundle.mjs), which shares one @oclif/core with the bundled
// commands.
//
// oclif checks the running Node against its own package's engines at import, through semver (a
// tenth of a start-up); npm checks ours (>=20.19) at install.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const argv = process.argv.slice(2);
if (!(await (await import('../dist/fast/main.js')).run(argv))) {
  const { execute } = await import('../dist/main.js');
  await execute({ dir: import.meta.url });
}
