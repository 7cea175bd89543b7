export * from './github.js';
export * from './notes.js';
export * from './publish.js';
export * from './annotations.js';
export * from './summary.js';
