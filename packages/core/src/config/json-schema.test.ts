import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA_FILE, configJsonSchema, configJsonSchemaText } from './json-schema.js';

describe('config JSON Schema', () => {
  it('the published file is the one generated from the zod schema (run the core build after a schema change)', () => {
    const published = readFileSync(fileURLToPath(new URL(`../../${CONFIG_SCHEMA_FILE}`, import.meta.url)), 'utf8');
    expect(published).toBe(configJsonSchemaText());
  });

  it('describes the keys, enums and defaults, rejects unknown keys and accepts $schema', () => {
    const s = configJsonSchema() as any;
    expect(s.type).toBe('object');
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.$schema).toMatchObject({ type: 'string' });
    expect(s.properties.qemu.properties.accel).toMatchObject({ enum: ['auto', 'kvm', 'tcg'], default: 'auto' });
    expect(s.properties.agents.items.properties.lang.enum).toEqual(['rust', 'csharp', 'fsharp', 'cuda', 'elf', 'c']);
  });

  it('the repository config points editors at it', () => {
    const cfg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../../tars.config.json', import.meta.url)), 'utf8'));
    expect(cfg.$schema).toBe(`./packages/core/${CONFIG_SCHEMA_FILE}`);
  });
});
