// Writes tars.config.schema.json (the config's JSON Schema) from the zod schema in dist/.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchemaText, CONFIG_SCHEMA_FILE } from '../dist/config/json-schema.js';

writeFileSync(fileURLToPath(new URL(`../${CONFIG_SCHEMA_FILE}`, import.meta.url)), configJsonSchemaText());
