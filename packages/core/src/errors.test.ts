import { describe, expect, it } from 'vitest';
import { AbortError, BugError, CancelledError, EXIT_CODES, ExternalError, serializeError, tailLines } from './errors.js';

describe('error model', () => {
  it('maps codes to documented exit codes', () => {
    expect(new AbortError('x').exitCode).toBe(EXIT_CODES.USAGE);
    expect(new AbortError('x', { code: 'CONFIG_INVALID' }).exitCode).toBe(3);
    expect(new AbortError('x', { code: 'TOOL_MISSING' }).exitCode).toBe(4);
    expect(new ExternalError('x', { command: ['a'] }).exitCode).toBe(5);
    expect(new BugError('x').exitCode).toBe(1);
    expect(new CancelledError().exitCode).toBe(130);
  });

  it('serializes user errors with their try message and external errors with their command', () => {
    expect(serializeError(new AbortError('bad', { tryMessage: 'do this', nextSteps: ['a'] }))).toEqual({
      code: 'USAGE',
      message: 'bad',
      tryMessage: 'do this',
      nextSteps: ['a'],
      exitCode: 2,
    });
    const ext = serializeError(new ExternalError('cargo failed', { command: ['cargo', 'build'], exitCode: 101, stderrTail: ['e1'], logFile: '/l' }));
    expect(ext).toMatchObject({ code: 'EXTERNAL_FAILED', command: ['cargo', 'build'], stderrTail: ['e1'], logFile: '/l', exitCode: 5 });
  });

  it('treats unknown throwables as bugs', () => {
    expect(serializeError(new TypeError('boom'))).toEqual({ code: 'BUG', message: 'boom', exitCode: 1 });
    expect(serializeError('str')).toEqual({ code: 'BUG', message: 'str', exitCode: 1 });
  });

  it('keeps the last non-empty lines', () => {
    expect(tailLines('a\n\nb\nc\n', 2)).toEqual(['b', 'c']);
  });
});
