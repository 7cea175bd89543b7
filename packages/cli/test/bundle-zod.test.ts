/**
 * The bundle's zod 3 (scripts/bundle.mjs, zod-lazy-binds) binds a schema's methods when they are
 * read instead of 24 of them per schema at construction: the schemas in dist/ must behave as
 * zod's own do, a method read off a schema included (`const { safeParse } = schema`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHUNKS = fileURLToPath(new URL('../dist/fast/chunks/', import.meta.url));

/** The bundled module that defines the config schema (built by `npm run build`). */
async function bundledSchemas(): Promise<{ configSchema: any; defaultConfig: () => any }> {
  const file = readdirSync(CHUNKS).find((f) => f.endsWith('.js') && readFileSync(join(CHUNKS, f), 'utf8').includes('var configSchema = '));
  if (!file) throw new Error(`no chunk in ${CHUNKS} defines configSchema: run npm run build`);
  return import(pathToFileURL(join(CHUNKS, file)).href);
}

describe('zod in the bundle', () => {
  it('builds schemas without binding their methods, and binds a method when it is read', async () => {
    const { configSchema, defaultConfig } = await bundledSchemas();
    expect(Object.hasOwn(configSchema, 'safeParse')).toBe(false);
    const { safeParse, parse } = configSchema;
    expect(safeParse({}).success).toBe(true);
    expect(parse({})).toEqual(defaultConfig());
    expect([{ qemu: { memoryMb: 8 } }].map(configSchema.safeParse)[0].error.issues[0]).toMatchObject({ path: ['qemu', 'memoryMb'], message: 'Number must be greater than or equal to 32' });
  });

  it('keeps chained schemas, refinements and a method set on a schema working', async () => {
    const { configSchema } = await bundledSchemas();
    const maybe = configSchema.optional();
    expect(maybe.safeParse(undefined)).toEqual({ success: true, data: undefined });
    const dup = { agents: [{ name: 'echo', lang: 'rust', path: 'a' }, { name: 'echo', lang: 'rust', path: 'b' }] };
    expect(configSchema.safeParse(dup).error.issues.map((i: { message: string }) => i.message)).toEqual(['agents.0 already has this name: agent names must be unique']);
    expect((await configSchema.safeParseAsync({})).success).toBe(true);
    const custom = configSchema.describe('x');
    custom.parse = () => 'own';
    expect(custom.parse({})).toBe('own');
    expect(configSchema.parse({}).name).toBe('tars-os');
  });
});
