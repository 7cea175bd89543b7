/**
 * The entry bin/run.js imports: oclif's execute, bundled with the commands (scripts/bundle.mjs)
 * so that the process shares one @oclif/core with them; and its error handler, which the fast
 * start (src/fast/run.ts) hands an error no command caught, so that it is printed as before.
 */
export { execute, handle } from '@oclif/core';
