export * from './github.js';
export * from './notes.js';
export * from './publish.js';
export * from './annotations.js';
// The build summary moved to image-builder (the build service writes it); kept here for callers.
export { appendStepSummary, buildSummaryMarkdown, type SummaryComponent } from '@tars/image-builder';
export * from './one-build.js';
