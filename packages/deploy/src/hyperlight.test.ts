import { describe, expect, it } from 'vitest';
import { decodeSandboxValue, encodeSandboxCall, parseSandboxArgs, sandboxValueJson } from './hyperlight.js';

describe('sandbox call encoding (the twin of kcore::sbcall)', () => {
  it('encodes the same bytes as the Rust codec', () => {
    // The same vector is asserted in crates/kcore/src/sbcall.rs (shared_vector_matches_typescript).
    expect(encodeSandboxCall('sum', [{ type: 'i64', value: 2n }, { type: 'i64', value: 40n }]).toString('hex')).toBe('0373756d02030200000000000000032800000000000000');
    expect(encodeSandboxCall('reverse', [{ type: 'string', value: 'hé' }, { type: 'bool', value: true }]).toString('hex')).toBe('077265766572736502080300000068c3a90701');
  });

  it('parses typed JSON arguments and refuses what does not fit', () => {
    expect(parseSandboxArgs('[2, 1.5, "x", true, {"u64": "18446744073709551615"}, {"bytes": "AQI="}]').map((v) => v.type)).toEqual(['i64', 'f64', 'string', 'bool', 'u64', 'bytes']);
    expect(() => parseSandboxArgs('{}')).toThrow(/array/);
    expect(() => parseSandboxArgs('[{"u32": -1}]')).toThrow(/out of range/);
    expect(() => parseSandboxArgs('[null]')).toThrow(/\[0\]/);
  });

  it('checks --args against a signature: each element takes its parameter type; a mismatch is one line naming the function, expected and given types', () => {
    const add = { name: 'add_i32', params: ['i32', 'i32'] as const, result: 'i32' as const };
    const vals = parseSandboxArgs('[2, -40]', { ...add, params: [...add.params] }, 'g');
    expect(vals).toEqual([{ type: 'i32', value: 2 }, { type: 'i32', value: -40 }]);
    expect(encodeSandboxCall('add_i32', vals).toString('hex')).toBe('076164645f693332020102000000' + '01d8ffffff');
    const sig = (params: string[], result = 'void') => ({ name: 'f', params, result }) as Parameters<typeof parseSandboxArgs>[1];
    expect(() => parseSandboxArgs('["x", 1]', { ...add, params: [...add.params] }, 'g')).toThrow(/^g\.add_i32\(i32, i32\) -> i32: --args do not match: expected \(i32, i32\), given \(string, integer\)$/);
    expect(() => parseSandboxArgs('[1]', { ...add, params: [...add.params] }, 'g')).toThrow(/expected \(i32, i32\), given \(integer\)/);
    expect(() => parseSandboxArgs('[3000000000, 1]', { ...add, params: [...add.params] }, 'g')).toThrow(/\[0\]: out of range for i32/);
    expect(() => parseSandboxArgs('[{"u64": 1}]', sig(['i64']))).toThrow(/expected \(i64\), given \(u64\)/);
    expect(parseSandboxArgs('[{"u64": "18446744073709551615"}, 1.5, 2, "AQI=", true]', sig(['u64', 'f32', 'f64', 'bytes', 'bool'])).map((v) => v.type)).toEqual(['u64', 'f32', 'f64', 'bytes', 'bool']);
    expect(() => parseSandboxArgs('[1.5]', sig(['i64']))).toThrow(/given \(number\)/);
    expect(parseSandboxArgs('[]', sig([]))).toEqual([]);
  });

  it('decodes results and refuses malformed ones', () => {
    expect(sandboxValueJson(decodeSandboxValue(Buffer.from('032a00000000000000', 'hex'))!)).toEqual({ type: 'i64', value: '42' });
    expect(decodeSandboxValue(Buffer.from('0803000000616263', 'hex'))).toEqual({ type: 'string', value: 'abc' });
    expect(decodeSandboxValue(Buffer.from('00', 'hex'))).toEqual({ type: 'void' });
    for (const bad of ['', '03', '0804000000616263', '0702', '2a', '0801000000ff']) expect(decodeSandboxValue(Buffer.from(bad, 'hex'))).toBeUndefined();
  });
});
