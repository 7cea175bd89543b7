// The fast start alone (dist/fast/main.js) for the line given: what it prints goes to stdout, and
// the file named by HELP_PROBE_OUT says `taken` when it answered the line (`left` when oclif
// would have had to). help-fast.e2e.test.ts runs it on a pseudo-terminal.
import { writeFileSync } from 'node:fs';

process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { run } = await import('../dist/fast/main.js');
writeFileSync(process.env.HELP_PROBE_OUT, (await run(process.argv.slice(2))) ? 'taken' : 'left');
