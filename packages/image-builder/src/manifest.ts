/**
 * The image manifest: written beside every image and trusted by every later stage (inspect,
 * deploy, release). One zod schema, validated on write and on read.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AbortError, writeJsonAtomic } from '@tars/core';
import { IMAGE_FORMATS } from '@tars/core';
import { SB_PARAM_TYPES, SB_TYPES } from './sandbox-signatures.js';

const sha = z.string().regex(/^[0-9a-f]{64}$/);
/** No `..` segment, no backslash, no NUL: a manifest path can never point outside where it is read. */
const contained = (p: string) => !p.includes('\\') && !p.includes('\0') && !p.split('/').includes('..');
/** A path relative to the image directory (or the project, for component outputs). */
const relPath = z
  .string()
  .min(1)
  .refine((p) => contained(p) && !p.startsWith('/'), { message: 'must be a relative path inside the image directory (no "..", not absolute)' });
/** A path inside the image filesystem (absolute there, as /boot/tars/…, or relative to the image directory). */
const imagePath = z
  .string()
  .min(1)
  .refine(contained, { message: 'must stay inside the image (no "..")' });
const fileEntry = z.object({ path: relPath, sha256: sha, size: z.number().int().nonnegative() }).strict();

export const manifestSchema = z
  .object({
    schema: z.literal(1),
    name: z.string().min(1),
    version: z.string().min(1),
    format: z.enum(IMAGE_FORMATS),
    git: z.object({ revision: z.string(), dirty: z.boolean() }).strict(),
    sourceDateEpoch: z.number().int().nonnegative(),
    /** The image's files (one for iso/raw; kernel + modules for the kernel format). */
    files: z.array(fileEntry).min(1),
    components: z
      .array(
        z
          .object({
            id: z.string(),
            kind: z.string(),
            inputsHash: sha,
            /** `image`: the id of the builder image that produced the outputs (container builds). */
            toolchain: z.object({ name: z.string(), version: z.string(), image: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional() }).strict(),
            outputs: z.array(fileEntry),
          })
          .strict(),
      )
      .min(1),
    boot: z
      .object({
        kernel: imagePath,
        cmdline: z.string(),
        modules: z.array(z.object({ name: z.string(), version: z.string(), file: imagePath, args: z.string(), sha256: sha }).strict()),
        firmware: z.array(z.enum(['bios', 'uefi'])),
      })
      .strict(),
    /** Files carried in the image that are not boot modules (NativeAOT .NET agents). */
    payloads: z.array(z.object({ name: z.string(), lang: z.string(), version: z.string(), file: imagePath, sha256: sha }).strict()).default([]),
    /** CUDA modules in the image: fatbin, its manifest, architectures and entry points. */
    gpuModules: z
      .array(z.object({ name: z.string(), version: z.string(), fatbin: imagePath, manifest: imagePath, sha256: sha, manifestSha256: sha, archs: z.array(z.string()), entryPoints: z.array(z.string()) }).strict())
      .default([]),
    /**
     * Function modules (sandbox guests, Hyperlight's model on TARS isolation): each boot module
     * of that name and the functions it exports, read from its signature table at build time.
     */
    sandboxModules: z
      .array(
        z
          .object({
            name: z.string(),
            version: z.string(),
            lang: z.enum(['rust', 'c']),
            file: imagePath,
            sha256: sha,
            functions: z.array(z.object({ name: z.string().min(1), params: z.array(z.enum(SB_PARAM_TYPES)), result: z.enum(SB_TYPES) }).strict()),
          })
          .strict(),
      )
      .default([]),
    /** Debug information per component (symbols and line tables), beside the image, not in it. */
    debug: z.array(z.object({ component: z.string(), name: z.string(), file: relPath, sha256: sha }).strict()).default([]),
    tools: z.record(z.string()),
    /** Hash of everything the image is made from; an unchanged key means a no-op rebuild. */
    buildKey: sha,
    /**
     * Hash of what every format of one build shares (config's agents and kernel, component
     * inputs and outputs, payloads, GPU modules): images of different formats with the same
     * contentKey come from one build of one config. Absent in manifests written before it.
     */
    contentKey: sha.optional(),
  })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;

export function writeManifest(path: string, manifest: Manifest): void {
  const parsed = manifestSchema.safeParse(manifest);
  if (!parsed.success) throw new AbortError(`Refusing to write an invalid manifest: ${parsed.error.issues[0]?.message}`, { code: 'BUG' });
  writeJsonAtomic(path, parsed.data);
}

export function readManifest(path: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AbortError(`${path}: cannot read the manifest (${err instanceof Error ? err.message : String(err)})`, { code: 'NOT_FOUND' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // There, but truncated or tampered: a failed check, not a missing file.
    throw new AbortError(`${path}: the manifest is not valid JSON (${err instanceof Error ? err.message : String(err)})`, { code: 'CHECK_FAILED', tryMessage: 'Rebuild the image: tarscli os build.' });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AbortError(`${path} [${issue?.path.join('.')}]: ${issue?.message}`, { code: 'CHECK_FAILED' });
  }
  return parsed.data;
}

/** `SHA256SUMS` content, sorted by name. */
export function sha256sums(files: { path: string; sha256: string }[]): string {
  return files
    .slice()
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => `${f.sha256}  ${f.path}\n`)
    .join('');
}
