/**
 * Flags shared by several commands: one meaning per flag name across tarscli (`-f` is --follow,
 * `--device` a compute device, `--disk` a disk), minimums validated by the parser.
 */
import { Flags } from '@oclif/core';
import { EXECUTOR_KINDS, IMAGE_FORMATS } from '@tars/core';

export const formatFlag = Flags.string({
  description: 'Image format (default: image.format from the config)',
  options: [...IMAGE_FORMATS],
  // `--target` was an old spelling; `os deploy --to` is where an image goes.
  aliases: ['target'],
  deprecateAliases: true,
});

/** A wait in seconds: at least 1. */
export const timeoutFlag = (description: string, defaultValue?: number) =>
  defaultValue === undefined ? Flags.integer({ description, min: 1, max: 86_400 }) : Flags.integer({ description, min: 1, max: 86_400, default: defaultValue });

export const executorFlag = Flags.string({
  description: 'Where build steps run (default: executor.default from the config)',
  options: [...EXECUTOR_KINDS],
});
