/**
 * `init` hook: an unknown command, answered before oclif looks it up. On a terminal (and without
 * --json) @oclif/plugin-not-found takes over and asks "Did you mean …?"; everywhere else — a
 * pipe, CI, --json — this prints the suggestion (as the flat JSON error under --json) and exits
 * 2, a usage error. Cheap for every other invocation: the kit is imported only on a miss.
 */
import type { Hook } from '@oclif/core';
import { realpathSync } from 'node:fs';

/** Whether this process is tarscli itself (not a tool such as `oclif readme` loading the plugin). */
function isOwnProcess(root: string): boolean {
  try {
    return realpathSync(process.argv[1] ?? '').startsWith(realpathSync(root));
  } catch {
    return false;
  }
}

const hook: Hook.Init = async function (opts) {
  const { id, config } = opts;
  if (!id || id.startsWith('-') || config.findCommand(id) || config.findTopic(id) || !isOwnProcess(config.root)) return;
  const json = opts.argv.includes('--json');
  if (!json && process.stdin.isTTY && process.stderr.isTTY) return;
  const { AbortError, closestWord, colorErr, errorJson } = await import('@tars/core');
  const spaced = (s: string) => s.replace(/:/g, ' ');
  const visible = config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]);
  const guess = await closestWord(id, visible);
  const topic = id.includes(':') && config.findTopic(id.split(':')[0] as string) ? ` ${id.split(':')[0]}` : '';
  const err = new AbortError(`${spaced(id)} is not a ${config.bin} command`, {
    code: 'USAGE',
    ...(guess ? { tryMessage: `Did you mean \`${config.bin} ${spaced(guess)}\`?` } : {}),
    nextSteps: [`\`${config.bin} help${topic}\` lists the commands`],
  });
  if (json) {
    const doc = errorJson(err, { context: spaced(id) });
    process.stdout.write(`${process.stdout.isTTY ? JSON.stringify(doc, null, 2) : JSON.stringify(doc)}\n`);
  } else {
    const lines = [`${colorErr.red('Error')} ${colorErr.dim('[USAGE]')} ${err.message}`, ...(err.tryMessage ? [`  ${err.tryMessage}`] : []), ...err.nextSteps.map((s) => `  - ${s}`)];
    process.stderr.write(`${lines.join('\n')}\n`);
  }
  this.exit(err.exitCode);
};

export default hook;
