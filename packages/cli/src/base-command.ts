/**
 * The one base command: owns --json, --verbose and --config, the {status, result, warnings}
 * envelope, error rendering with stable codes and exit codes, and Ctrl-C (exit 130).
 */
import { Command, Flags, Interfaces } from '@oclif/core';
import {
  CancelledError,
  color,
  configureOutput,
  EXIT_CODES,
  loadConfig,
  serializeError,
  takeWarnings,
  AbortError,
  type LoadedConfig,
  type SerializedError,
} from '@tars/core';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

export abstract class BaseCommand<T extends typeof Command, R> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    config: Flags.string({ description: 'Path of the TARS config file (default: searched from the current directory up)', helpGroup: 'GLOBAL' }),
    verbose: Flags.boolean({ description: 'Print debug output on stderr', default: false, helpGroup: 'GLOBAL' }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: Interfaces.InferredArgs<T['args']>;
  private readonly abort = new AbortController();
  private readonly onSigint = () => {
    this.abort.abort();
    process.exitCode = EXIT_CODES.CANCELLED;
  };

  /** Cancelled on Ctrl-C; pass it to every service. */
  protected get signal(): AbortSignal {
    return this.abort.signal;
  }

  override async init(): Promise<void> {
    await super.init();
    const { flags, args } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.args = args as Interfaces.InferredArgs<T['args']>;
    configureOutput({ json: this.jsonEnabled(), verbose: this.flags.verbose });
    process.on('SIGINT', this.onSigint);
  }

  /** Load and validate the config once; flag overrides are dotted paths. */
  protected async loadConfig(overrides: Record<string, unknown> = {}): Promise<LoadedConfig> {
    return loadConfig({ ...(this.flags.config ? { file: this.flags.config } : {}), overrides });
  }

  /** Do the work and return the typed result. */
  abstract execute(): Promise<R>;

  /** Print the result for a person (not called under --json). */
  protected abstract render(result: R): void;

  async run(): Promise<R> {
    const result = await this.execute();
    if (this.signal.aborted) throw new CancelledError();
    if (!this.jsonEnabled()) this.render(result);
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
    return { status: serializeError(err).exitCode, error: serializeError(err), warnings: takeWarnings() };
  }

  override async catch(err: Interfaces.CommandError): Promise<void> {
    let error: unknown = err;
    // oclif parse errors (unknown flag, missing arg) are usage errors.
    if ((err as { oclif?: { exit?: number } }).oclif?.exit === 2 || /Unexpected argument|Nonexistent flag|Missing required|Expected --|to be one of/.test(err.message)) {
      error = new AbortError(err.message.split('\n')[0] ?? err.message, { tryMessage: `See \`tarscli ${this.id?.replace(/:/g, ' ') ?? ''} --help\`.` });
    }
    if (this.signal.aborted) error = new CancelledError();
    const s = serializeError(error);
    if (process.env['GITHUB_ACTIONS'] === 'true' && s.logFile) await this.annotate(s.logFile);
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(error));
    } else {
      process.stderr.write(formatError(s, err));
    }
    process.exitCode = s.exitCode;
    this.exit(s.exitCode);
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

function formatError(s: SerializedError, raw: Error): string {
  const lines = [`${color.red('Error')} ${color.dim(`[${s.code}]`)} ${s.message}`];
  if (s.command) lines.push(color.dim(`  command: ${s.command.join(' ')}`));
  if (s.stderrTail?.length) lines.push(...s.stderrTail.slice(-10).map((l) => color.dim(`  | ${l}`)));
  if (s.logFile) lines.push(`  full log: ${s.logFile}`);
  if (s.tryMessage) lines.push(`  ${s.tryMessage}`);
  for (const step of s.nextSteps ?? []) lines.push(`  - ${step}`);
  if (s.code === 'BUG' && process.env['TARS_DEBUG']) lines.push(raw.stack ?? '');
  else if (s.code === 'BUG') lines.push(color.dim('  This is a bug in tarscli; rerun with TARS_DEBUG=1 for the stack trace.'));
  return `${lines.join('\n')}\n`;
}
