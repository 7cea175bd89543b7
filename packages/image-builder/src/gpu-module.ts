/** The GPU module manifest (written by a module's build-fatbin.sh): validated on read. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AbortError } from '@tars/core';

export const gpuModuleSchema = z.object({
  schema: z.literal(1),
  name: z.string().min(1),
  version: z.string().min(1),
  fatbin: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().positive() }),
  archs: z.array(z.string()).min(1),
  nvcc: z.string(),
  /** The host implementations (the GPU broker's CPU backend): the library built beside the fatbin, and its source. */
  host: z.object({ file: z.string().min(1), source: z.string().min(1) }).optional(),
  entryPoints: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z_]\w*$/),
        /** The entry point's launch form in the host library (tgpu_host_NAME). */
        host: z.string().regex(/^[A-Za-z_]\w*$/).optional(),
        params: z.array(z.object({ name: z.string(), type: z.string() })),
        sharedMemBytes: z.number().int().nonnegative(),
        block: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
      }),
    )
    .min(1),
});

export type GpuModuleManifest = z.infer<typeof gpuModuleSchema>;

export function readGpuModule(path: string): GpuModuleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AbortError(`${path}: cannot read the GPU module manifest (${err instanceof Error ? err.message : String(err)})`, { code: 'CHECK_FAILED' });
  }
  const r = gpuModuleSchema.safeParse(raw);
  if (!r.success) throw new AbortError(`${path} [${r.error.issues[0]?.path.join('.')}]: ${r.error.issues[0]?.message}`, { code: 'CHECK_FAILED' });
  return r.data;
}
