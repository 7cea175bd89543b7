import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32.js';
import { encodeFrame, FrameDecoder } from './frame.js';

const vectors = JSON.parse(readFileSync(new URL('../../../kernel-rs/protocol-vectors.json', import.meta.url), 'utf8')) as {
  frames: { payload: string; wire: string }[];
  bad_frames: { wire: string; error: string }[];
};

describe('frame codec (shared vectors with kcore::frame)', () => {
  it('crc32 matches the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it.each(vectors.frames)('encodes and decodes $payload', ({ payload, wire }) => {
    expect(encodeFrame(payload).toString('utf8')).toBe(wire);
    const events = new FrameDecoder().push(Buffer.from(wire));
    expect(events).toEqual([{ kind: 'frame', payload: Buffer.from(payload) }]);
  });

  it.each(vectors.bad_frames)('reports $error', ({ wire, error }) => {
    const events = new FrameDecoder().push(Buffer.from(wire));
    expect(events[0]).toEqual({ kind: 'error', code: error });
  });

  it('resumes after garbage and decodes frames split across chunks', () => {
    const d = new FrameDecoder();
    const wire = Buffer.concat([Buffer.from('noise'), encodeFrame('{"a":1}'), encodeFrame('{"b":2}')]);
    const out = [];
    for (let i = 0; i < wire.length; i += 3) out.push(...d.push(wire.subarray(i, i + 3)));
    expect(out.map((e) => (e.kind === 'frame' ? e.payload.toString() : e.code))).toEqual(['GARBAGE', '{"a":1}', '{"b":2}']);
  });

  it('refuses frames larger than its limit', () => {
    expect(new FrameDecoder(4).push(encodeFrame('12345'))[0]).toEqual({ kind: 'error', code: 'TOO_LONG' });
  });
});
