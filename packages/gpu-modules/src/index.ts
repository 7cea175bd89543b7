export * from './png.js';
export * from './simulate.js';
export * from './chart.js';
export * from './environment.js';
