/**
 * The bundle's zod 3 (scripts/bundle.mjs, zod-lazy-binds) binds a schema's methods when they are
 * read instead of 24 of them per schema at construction: zod in dist/ must behave as zod's own
 * does, a method read off a schema included (`const { safeParse } = schema`). (The config and
 * manifest schemas run through it in the e2e tests: config show, its errors, os inspect.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHUNKS = fileURLToPath(new URL('../dist/fast/chunks/', import.meta.url));

/** zod's `z` as the fast start bundles it (built by `npm run build`). */
async function bundledZod(): Promise<any> {
  const file = readdirSync(CHUNKS).find((f) => f.endsWith('.js') && readFileSync(join(CHUNKS, f), 'utf8').includes('var ZodType = class'));
  if (!file) throw new Error(`no chunk in ${CHUNKS} holds zod: run npm run build`);
  const m = await import(pathToFileURL(join(CHUNKS, file)).href);
  const z = Object.values(m).find((v: any) => typeof v?.object === 'function' && typeof v?.ZodType === 'function');
  if (!z) throw new Error(`${file} does not export zod's namespace`);
  return z;
}

describe('zod in the bundle', () => {
  it('builds schemas without binding their methods, and binds a method when it is read', async () => {
    const z = await bundledZod();
    const schema = z.object({ name: z.string().min(1).default('tars-os'), memoryMb: z.number().int().min(32) }).strict();
    expect(Object.hasOwn(schema, 'safeParse')).toBe(false);
    const { safeParse, parse } = schema;
    expect(parse({ memoryMb: 64 })).toEqual({ name: 'tars-os', memoryMb: 64 });
    expect(safeParse({ memoryMb: 8 }).error.issues[0]).toMatchObject({ path: ['memoryMb'], message: 'Number must be greater than or equal to 32' });
    expect([{ memoryMb: 64, x: 1 }].map(schema.safeParse)[0].error.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['x'] });
  });

  it('keeps chained schemas, refinements, async parsing and a method set on a schema working', async () => {
    const z = await bundledZod();
    const names = z.array(z.string()).superRefine((xs: string[], ctx: any) => {
      if (new Set(xs).size !== xs.length) ctx.addIssue({ code: 'custom', message: 'names must be unique' });
    });
    expect(names.optional().safeParse(undefined)).toEqual({ success: true, data: undefined });
    expect(names.safeParse(['a', 'a']).error.issues.map((i: { message: string }) => i.message)).toEqual(['names must be unique']);
    expect(await names.spa(['a'])).toEqual({ success: true, data: ['a'] });
    expect(await names.parseAsync(['b'])).toEqual(['b']);
    const custom = names.describe('x');
    custom.parse = () => 'own';
    expect(custom.parse([])).toBe('own');
    expect(names.parse([])).toEqual([]);
    expect(z.string().or(z.number()).nullable().parse(null)).toBe(null);
  });
});
