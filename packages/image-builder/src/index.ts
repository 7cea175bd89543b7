export * from './hash-inputs.js';
export * from './cache.js';
