/**
 * The JSON Schema of tars.config.json, generated from the zod schema (the single definition), so
 * editors complete keys and flag typos. Published as packages/core/tars.config.schema.json by the
 * build; a test fails when the committed file drifts from the zod schema.
 */
import { zodToJsonSchema } from 'zod-to-json-schema';
import { configSchema } from './schema.js';

export const CONFIG_SCHEMA_FILE = 'tars.config.schema.json';

export function configJsonSchema(): Record<string, unknown> {
  const schema = zodToJsonSchema(configSchema, { $refStrategy: 'none', target: 'jsonSchema7' }) as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://tars-os.dev/schemas/tars.config.schema.json',
    title: 'TARS OS project configuration (tars.config.json)',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
