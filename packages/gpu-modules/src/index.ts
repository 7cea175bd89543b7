export * from './png.js';
export * from './simulate.js';
