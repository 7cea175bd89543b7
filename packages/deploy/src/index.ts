export * from './protocol/crc32.js';
export * from './protocol/frame.js';
export * from './protocol/types.js';
export * from './protocol/events.js';
export * from './protocol/client.js';
export * from './qemu/args.js';
export * from './qemu/instance.js';
