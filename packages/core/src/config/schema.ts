/** The TARS config schema: the single definition of every key, its type and default. */
import { z } from 'zod';

export const AGENT_LANGS = ['rust', 'csharp', 'fsharp', 'cuda'] as const;
export const IMAGE_FORMATS = ['iso', 'kernel', 'raw'] as const;
export const EXECUTOR_KINDS = ['auto', 'docker', 'host'] as const;
export const ACCELS = ['auto', 'kvm', 'tcg'] as const;

const toolchainSchema = z
  .object({
    /** Builder image for this toolchain; any image name works (e.g. `rust:1.95`). */
    image: z.string().min(1),
    /** A component built with this toolchain may be skipped when the toolchain is missing. */
    optional: z.boolean().default(false),
  })
  .strict();

export const agentSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/, 'must be kebab-case: a-z, 0-9 and -, 2 to 40 characters'),
    lang: z.enum(AGENT_LANGS),
    path: z.string().min(1),
    optional: z.boolean().default(false),
  })
  .strict();

export const configSchema = z
  .object({
    name: z.string().min(1).default('tars-os'),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be a semantic version like 1.2.3').default('0.1.0'),
    executor: z
      .object({
        default: z.enum(EXECUTOR_KINDS).default('auto'),
        /** Steps run with networking disabled unless this is true. */
        network: z.boolean().default(false),
      })
      .strict()
      .default({}),
    toolchains: z
      .object({
        base: toolchainSchema.default({ image: 'tars-builder-base:bookworm' }),
        rust: toolchainSchema.default({ image: 'tars-builder-rust:stable' }),
        dotnet: toolchainSchema.default({ image: 'tars-builder-dotnet:10', optional: true }),
        cuda: toolchainSchema.default({ image: 'tars-builder-cuda:11.8', optional: true }),
      })
      .strict()
      .default({}),
    image: z
      .object({
        format: z.enum(IMAGE_FORMATS).default('iso'),
        outDir: z.string().min(1).default('dist'),
      })
      .strict()
      .default({}),
    qemu: z
      .object({
        accel: z.enum(ACCELS).default('auto'),
        memoryMb: z.number().int().min(32).max(65536).default(256),
        bootTimeoutMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .default({}),
    cache: z
      .object({
        dir: z.string().min(1).default('.tars/cache'),
        maxSizeMb: z.number().int().positive().default(4096),
      })
      .strict()
      .default({}),
    agents: z.array(agentSchema).default([]),
  })
  .strict();

export type TarsConfigInput = z.input<typeof configSchema>;
export type TarsConfig = z.output<typeof configSchema>;
export type ToolchainName = keyof TarsConfig['toolchains'];
export type AgentLang = (typeof AGENT_LANGS)[number];

/** The config with every default applied. */
export function defaultConfig(): TarsConfig {
  return configSchema.parse({});
}
