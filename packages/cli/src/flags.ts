/** Flags shared by several commands. */
import { Flags } from '@oclif/core';
import { EXECUTOR_KINDS, IMAGE_FORMATS } from '@tars/core';

export const formatFlag = Flags.string({
  char: 'f',
  description: 'Image format (default: image.format from the config)',
  options: [...IMAGE_FORMATS],
  aliases: ['target'],
});

export const executorFlag = Flags.string({
  description: 'Where build steps run (default: executor.default from the config)',
  options: [...EXECUTOR_KINDS],
});
