#!/usr/bin/env node
// tarscli: oclif's execute from the bundle (dist/main.js, built by scripts/bundle.mjs), which
// shares one @oclif/core with the bundled commands.
//
// oclif checks the running Node against its own package's engines at import, through semver (a
// tenth of a start-up); npm checks ours (>=20.19) at install.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { execute } = await import('../dist/main.js');
await execute({ dir: import.meta.url });
