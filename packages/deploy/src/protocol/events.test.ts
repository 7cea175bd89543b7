import { describe, expect, it } from 'vitest';
import { formatEvent, parseEventLine } from './events.js';

describe('event lines', () => {
  it('parses kernel events and flags everything else as garbage', () => {
    expect(parseEventLine('{"v":1,"seq":3,"t_us":10,"ev":"ready","tasks":2}')).toEqual({
      kind: 'event',
      event: { v: 1, seq: 3, t_us: 10, ev: 'ready', tasks: 2 },
    });
    expect(parseEventLine('SeaBIOS (version 1.16)').kind).toBe('garbage');
    expect(parseEventLine('{"truncated').kind).toBe('garbage');
    expect(parseEventLine('{"a":1}').kind).toBe('garbage');
  });

  it('rejects another protocol version with a clear error', () => {
    expect(() => parseEventLine('{"v":2,"seq":0,"t_us":0,"ev":"boot"}')).toThrow(/protocol version 2; this tarscli speaks 1/);
  });

  it('formats an event on one line', () => {
    expect(formatEvent({ v: 1, seq: 0, t_us: 1500, ev: 'log', source: 'ping', msg: 'hi' })).toBe('     1.500 ms  log          source=ping msg=hi');
  });
});
