/**
 * The entry bin/run.js imports: oclif's execute, bundled with the commands (scripts/bundle.mjs)
 * so that the process shares one @oclif/core with them.
 */
export { execute } from '@oclif/core';
