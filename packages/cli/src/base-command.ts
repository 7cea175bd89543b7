/**
 * The one base command: owns --json, --verbose, --quiet and --config, the {status, result,
 * warnings} envelope, error rendering with stable codes and exit codes (flat JSON errors like
 * sf-plugins-core's), and Ctrl-C: exit 130, or a quiet exit 0 for commands that run until
 * interrupted (`os logs --follow`, `os diagnostics --watch`).
 */
import { Command, Flags, Interfaces } from '@oclif/core';
import {
  AbortError,
  CancelledError,
  closestWord,
  colorErr,
  configureOutput,
  errorJson,
  EXIT_CODES,
  findProjectRoot,
  serializeError,
  takeWarnings,
  type LoadedConfig,
  type SerializedError,
} from '@tars/core';
import type { DeploymentRecord } from '@tars/deploy';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

export abstract class BaseCommand<T extends typeof Command, R> extends Command {
  static override enableJsonFlag = true;
  /** Commands that work outside a TARS project (doctor, config show) set this to false. */
  static requiresProject = true;

  static override baseFlags = {
    config: Flags.string({ description: 'Path of the TARS config file (default: searched from the current directory up)', helpGroup: 'GLOBAL' }),
    verbose: Flags.boolean({ description: 'Print debug lines on stderr (config file, commands run, requests, cache decisions)', default: false, helpGroup: 'GLOBAL', exclusive: ['quiet'] }),
    quiet: Flags.boolean({ description: 'Print only results, warnings and errors: no progress', default: false, helpGroup: 'GLOBAL' }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: Interfaces.InferredArgs<T['args']>;
  /** Set by commands whose normal end is Ctrl-C: then it exits 0 without an error. */
  protected runsUntilInterrupted = false;
  private readonly abort = new AbortController();
  private readonly onSigint = () => {
    this.abort.abort();
    if (!this.runsUntilInterrupted) process.exitCode = EXIT_CODES.CANCELLED;
  };

  /** Cancelled on Ctrl-C; pass it to every service. */
  protected get signal(): AbortSignal {
    return this.abort.signal;
  }

  override async init(): Promise<void> {
    await super.init();
    process.on('SIGINT', this.onSigint);
    const { flags, args } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.args = args as Interfaces.InferredArgs<T['args']>;
    configureOutput({ json: this.jsonEnabled(), verbose: this.flags.verbose, quiet: this.flags.quiet });
  }

  /**
   * Load and validate the config once; flag overrides are dotted paths. The loader (cosmiconfig,
   * the zod schema) is read only by the commands that call this.
   */
  protected async loadConfig(overrides: Record<string, unknown> = {}): Promise<LoadedConfig> {
    const requireFile = (this.ctor as typeof BaseCommand).requiresProject;
    const { loadConfig } = await import('@tars/core/config');
    return loadConfig({ ...(this.flags.config ? { file: this.flags.config } : {}), overrides, requireFile });
  }

  /**
   * The project root, for commands that use nothing else of the config (everything done on a
   * deployment): found as the config search finds it, without loading or validating the file,
   * so that a config mistake never stands between a user and `os ps` or `os stop`. Where only
   * the full load can tell (no config file found, --config not a file), the config is loaded
   * and its error is the one shown.
   */
  protected async projectRoot(): Promise<string> {
    return findProjectRoot(this.flags.config ? { file: this.flags.config } : {})?.root ?? (await this.loadConfig()).root;
  }

  /**
   * The deployment a command works on: `id`, or the only running one; with several, an error
   * that lists them and suggests this same command with an id.
   */
  protected async pickDeployment(root: string, id: string | undefined, opts: { stoppedRecordings?: boolean } = {}): Promise<DeploymentRecord> {
    const { getDeployment } = await import('@tars/deploy');
    return getDeployment(root, id, { command: this.id?.replace(/:/g, ' ') ?? 'os diagnostics', ...opts });
  }

  /** Do the work and return the typed result. */
  abstract execute(): Promise<R>;

  /** Print the result for a person (not called under --json). */
  protected abstract render(result: R): void;

  async run(): Promise<R> {
    const result = await this.execute();
    if (this.signal.aborted && !this.runsUntilInterrupted) throw new CancelledError();
    // A command that runs until interrupted has drawn its output as it went.
    if (!this.jsonEnabled() && !this.runsUntilInterrupted) this.render(result);
    return result;
  }

  /** Pretty on a terminal; one line when piped, so streamed JSON lines + envelope stay JSON Lines. */
  override logJson(json: unknown): void {
    process.stdout.write(`${process.stdout.isTTY ? JSON.stringify(json, null, 2) : JSON.stringify(json)}\n`);
  }

  protected override toSuccessJson(result: unknown): unknown {
    return { status: process.exitCode ?? 0, result, warnings: takeWarnings() };
  }

  protected override toErrorJson(err: unknown): unknown {
    return errorJson(err, { context: this.id?.replace(/:/g, ' '), warnings: takeWarnings() });
  }

  override async catch(err: Interfaces.CommandError): Promise<void> {
    if (this.signal.aborted && this.runsUntilInterrupted) {
      process.exitCode = 0;
      return;
    }
    let error: unknown = err;
    const usage = usageError(err, this.id);
    if (usage) error = await this.withFlagSuggestion(usage);
    if (this.signal.aborted) error = new CancelledError();
    const s = serializeError(error);
    if (process.env['GITHUB_ACTIONS'] === 'true' && s.logFile) await this.annotate(s.logFile);
    if (this.jsonEnabled() || (!this.flags && process.argv.includes('--json'))) {
      this.logJson(this.toErrorJson(error));
    } else {
      process.stderr.write(formatError(s, err));
    }
    process.exitCode = s.exitCode;
    this.exit(s.exitCode);
  }

  /** `Nonexistent flag: --formt` → also "Did you mean --format?" (from this command's flags). */
  private async withFlagSuggestion(usage: AbortError): Promise<AbortError> {
    const typo = /Nonexistent flags?: (--[\w-]+)/.exec(usage.message)?.[1];
    if (!typo) return usage;
    const ctor = this.ctor as typeof BaseCommand;
    const names = Object.entries({ ...ctor.baseFlags, ...ctor.flags, ...(ctor.enableJsonFlag ? { json: {} } : {}) }).flatMap(([name, f]) => [name, ...((f as { aliases?: string[] }).aliases ?? [])]);
    const guess = await closestWord(typo.slice(2), names);
    if (!guess) return usage;
    return new AbortError(usage.message, { code: 'USAGE', tryMessage: `Did you mean --${guess}? ${usage.tryMessage ?? ''}`.trim() });
  }

  /** In GitHub Actions, turn the failed step's compiler diagnostics into annotations. */
  private async annotate(logFile: string): Promise<void> {
    try {
      const { parseDiagnostics, resolveDiagnosticPath, workflowCommand } = await import('@tars/release');
      const { readFileSync } = await import('node:fs');
      const dirs = ['packages/kernel-rs', 'packages/dotnet-interop', 'packages/gpu-modules'];
      for (const d of parseDiagnostics(readFileSync(logFile, 'utf8'))) {
        const line = workflowCommand({ ...d, file: resolveDiagnosticPath(d.file, process.cwd(), dirs) });
        (this.jsonEnabled() ? process.stderr : process.stdout).write(`${line}\n`);
      }
    } catch {
      // Annotations are a convenience; the error itself is reported below either way.
    }
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    process.off('SIGINT', this.onSigint);
    await super.finally(err);
  }
}

/**
 * oclif's parse errors (unknown flag, missing argument, a value below a minimum) as one USAGE
 * error that keeps oclif's whole reason, on one line.
 */
export function usageError(err: Error & { oclif?: { exit?: number }; parse?: unknown }, id: string | undefined): AbortError | undefined {
  const isParse = err.parse !== undefined || /Unexpected argument|Nonexistent flag|Missing \d+ required arg|Missing required flag|Expected --|to be one of|Parsing --|The following error|cannot also be provided/.test(err.message);
  if (!isParse || err instanceof AbortError) return undefined;
  const message = oneLineReason(err.message);
  return new AbortError(message, { code: 'USAGE', tryMessage: `See \`tarscli ${id?.replace(/:/g, ' ') ?? ''} --help\`.` });
}

export function oneLineReason(message: string): string {
  const lines = message
    .replace(/\u001B\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help with --help$/.test(l))
    .map((l, i) => (i > 0 ? l.replace(/^(\S+)\s{2,}(.+)$/, '$1 ($2)') : l));
  return lines
    .map((l, i) => (i < lines.length - 1 && !/[:.;]$/.test(l) ? `${l}:` : l))
    .join(' ')
    .replace(/\s+/g, ' ');
}

function formatError(s: SerializedError, raw: Error): string {
  const c = colorErr;
  const lines = [`${c.red('Error')} ${c.dim(`[${s.code}]`)} ${s.message}`];
  if (s.command) lines.push(c.dim(`  command: ${s.command.join(' ')}`));
  if (s.stderrTail?.length) lines.push(...s.stderrTail.slice(-10).map((l) => c.dim(`  | ${l}`)));
  if (s.logFile) lines.push(`  full log: ${s.logFile}`);
  if (s.tryMessage) lines.push(`  ${s.tryMessage}`);
  for (const step of s.nextSteps ?? []) lines.push(`  - ${step}`);
  if (s.code === 'BUG' && process.env['TARS_DEBUG']) lines.push(raw.stack ?? '');
  else if (s.code === 'BUG') lines.push(c.dim('  This is a bug in tarscli; rerun with TARS_DEBUG=1 for the stack trace.'));
  return `${lines.join('\n')}\n`;
}

/** Kept for commands that imported it from here; the kit owns it. */
export { sleep } from '@tars/core';
