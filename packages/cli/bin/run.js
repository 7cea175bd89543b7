#!/usr/bin/env node
// tarscli. First the fast start (dist/fast/main.js, src/fast/run.ts): one of tarscli's own
// commands, named first on the line, runs without oclif's Config.load or oclif itself, and help
// (no arguments, --help/-h, `help`, a topic alone) is rendered by oclif's Help class from the
// manifest (src/fast/help.ts). Whatever it leaves (unknown commands, a line oclif's parser must
// judge, a setup the fast help cannot reproduce) goes to oclif's execute from the bundle
// (dist/main.js, built by scripts/bundle.mjs), which shares one @oclif/core with the bundled
// commands.
//
// This file and the fast start are CommonJS (bin/package.json, dist/fast/package.json): Node's
// ESM loader costs a start some milliseconds for itself and about one per module it loads.
//
// oclif checks the running Node against its own package's engines at import, through semver (a
// tenth of a start-up); npm checks ours (>=20.19) at install.
'use strict';
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { join } = require('node:path');
const argv = process.argv.slice(2);

async function main() {
  if (await require('../dist/fast/main.js').run(argv)) return;
  const { execute } = await import('../dist/main.js');
  // The package's root, named: oclif would look for it upwards from this file and find
  // bin/package.json first.
  await execute({ loadOptions: { root: join(__dirname, '..') } });
}
main();
