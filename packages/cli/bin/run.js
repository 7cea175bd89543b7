#!/usr/bin/env node
// tarscli. First the fast start (dist/fast/main.js, src/fast/run.ts): one of tarscli's own
// commands, named first on the line, runs without oclif's Config.load or oclif itself. Whatever
// it leaves (help, topics, unknown commands, a line oclif's parser must judge) goes to oclif's
// execute from the bundle (dist/main.js, built by scripts/bundle.mjs), which shares one
// @oclif/core with the bundled commands. A line that can only be oclif's (no command word first,
// or a help flag) goes there directly.
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
const mayBeFast = /^[a-z]/.test(argv[0] ?? '') && argv[0] !== 'help' && !argv.includes('--help') && !argv.includes('-h');

async function main() {
  if (mayBeFast && (await require('../dist/fast/main.js').run(argv))) return;
  const { execute } = await import('../dist/main.js');
  // The package's root, named: oclif would look for it upwards from this file and find
  // bin/package.json first.
  await execute({ loadOptions: { root: join(__dirname, '..') } });
}
main();
