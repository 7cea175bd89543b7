#!/usr/bin/env node
// The execute entry alone: `--help` and `--version` never load the rest of @oclif/core.
import { execute } from '@oclif/core/execute';

await execute({ dir: import.meta.url });
