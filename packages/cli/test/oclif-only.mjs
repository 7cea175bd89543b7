// tarscli through oclif alone (dist/main.js's execute), skipping the fast start that bin/run.js
// tries first: fast-start.e2e.test.ts compares the two on the same command lines.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { execute } = await import('../dist/main.js');
// The package's root, named (as bin/run.js does): from bin/ oclif would find bin/package.json.
await execute({ loadOptions: { root: new URL('..', import.meta.url).pathname.replace(/\/$/, '') }, args: process.argv.slice(2) });
