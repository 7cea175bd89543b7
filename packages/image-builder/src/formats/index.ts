/**
 * The image format registry. Adding a format is one module implementing ImageFormatModule plus
 * one line here (and its name in core's IMAGE_FORMATS, which the config validates against).
 */
import { AbortError } from '@tars/core';
import type { ImageFormat } from './common.js';
import type { ImageFormatModule } from './format.js';
import { isoFormat } from './iso.js';
import { kernelFormat } from './kernel.js';
import { rawFormat } from './raw.js';

export const FORMATS: Record<ImageFormat, ImageFormatModule> = {
  iso: isoFormat,
  kernel: kernelFormat,
  raw: rawFormat,
};

export function getFormat(name: string): ImageFormatModule {
  const f = (FORMATS as Record<string, ImageFormatModule | undefined>)[name];
  if (!f) throw new AbortError(`Unknown image format ${name}`, { code: 'USAGE', tryMessage: `Known: ${Object.keys(FORMATS).join(', ')}` });
  return f;
}

export * from './common.js';
export * from './format.js';
export { patchGrubBios } from './raw.js';
