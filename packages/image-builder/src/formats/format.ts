/**
 * What an image format is: the tools it needs, its assembly, where things live inside it, and
 * how a deployer boots it. One module per format (iso.ts, raw.ts, kernel.ts), one registry
 * (index.ts); nothing else compares format names.
 */
import type { Manifest } from '../manifest.js';
import type { AssembleOptions, ImageFormat } from './common.js';

/** How a machine boots an image: the multiboot kernel directly, or a disk. */
export type BootSpec =
  | { kernel: string; modules: Array<{ path: string; args: string }>; append?: string; disk?: undefined }
  | { disk: { path: string; media: 'cdrom' | 'disk' }; kernel?: undefined };

export interface ImageFormatModule {
  readonly name: ImageFormat;
  readonly summary: string;
  /** Host tools assembly runs (fingerprinted into the build key). */
  readonly tools: string[];
  toolVersions(): Promise<Record<string, string>>;
  /** Assemble into `stage`: the image files (relative to `stage`) and the manifest's boot section. */
  assemble(stage: string, opts: AssembleOptions, env: Record<string, string>): Promise<{ files: string[]; boot: Manifest['boot'] }>;
  /** Where payloads and GPU modules live, as the manifest records them. */
  readonly paths: { payloads: string; gpu: string };
  /** Firmware it boots with. */
  readonly firmware: Array<'bios' | 'uefi'>;
  /** How a deployer boots it (QEMU: -kernel + modules, a CD or a disk). */
  boot(m: Manifest, imageDir: string): BootSpec;
  /** Copy /boot/tars out of the image into `into` (for inspect); absent when the files are plain. */
  extractBootFiles?(m: Manifest, image: string, into: string): Promise<void>;
  /** The release asset name of one of its files. */
  releaseAssetName(m: Manifest, file: string): string;
}
