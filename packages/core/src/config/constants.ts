/**
 * The config's fixed vocabulary (agent languages, image formats, name and path patterns, the
 * kernel's limits), apart from the zod schema that uses it: a command that needs only these
 * (a flag's choices, a name check) does not load zod and build the schema.
 */
/**
 * `elf`: a prebuilt static x86-64 Linux executable (`path` is the file), booted as it is.
 * `c`: a sandbox guest in C (`sandbox: true`), built with the C guest runtime.
 */
export const AGENT_LANGS = ['rust', 'csharp', 'fsharp', 'cuda', 'elf', 'c'] as const;
/** Environment variable names an agent's `env` may set. */
export const ENV_NAME_RE = /^[A-Z_][A-Z0-9_]{0,63}$/;
/** Environment values travel on the module command line: no spaces, quotes or control characters. */
export const ENV_VALUE_RE = /^[\x21\x23-\x26\x28-\x7e]{0,200}$/;
export const IMAGE_FORMATS = ['iso', 'kernel', 'raw'] as const;
export const EXECUTOR_KINDS = ['auto', 'docker', 'host'] as const;
export const ACCELS = ['auto', 'kvm', 'tcg'] as const;
/** QEMU machine types for `os deploy`: auto = microvm for a directly booted kernel, else pc. */
export const MACHINE_CHOICES = ['auto', 'pc', 'microvm'] as const;
/** What the kernel's supervisor does when an agent faults (module command line `fault=`). */
export const FAULT_POLICIES = ['restart', 'stop'] as const;

/** kebab-case, 2 to 40 characters: words of a-z0-9 joined by single dashes (`a--b` would make class `AundefinedB`). */
export const AGENT_NAME_RE = /^(?=.{2,40}$)[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
/** Relative, no `..` segment, no backslash or NUL: a path that stays inside the project. */
export const PROJECT_PATH_RE = /^(?!\/)(?!(?:.*\/)?\.\.(?:\/|$))[^\\\0]+$/;
export const CAP_RE = /^(serve|call|notify|shm)=[a-z][a-z0-9-]{0,22}$/;
/** Capability slots per task (the kernel's `CAP_SLOTS`). */
export const CAP_SLOTS = 32;
/** Most `children=` the kernel can honour: 1,024 task slots less the 8 a spawn never takes. */
export const MAX_CHILDREN = 1016;
/** The kernel's argv limits (loader.rs): arguments, and bytes of arguments and environment together. */
export const MAX_ARGS = 32;
export const MAX_ARG_BYTES = 2048;
