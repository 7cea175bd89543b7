/** Where an image of a format is written: `<image.outDir>/<format>` under the project root. */
import { resolve } from 'node:path';
import type { TarsConfig } from '@tars/core';
import type { ImageFormat } from './formats/common.js';

export function imageDir(root: string, config: TarsConfig, format: ImageFormat): string {
  return resolve(root, config.image.outDir, format);
}
