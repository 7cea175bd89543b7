import { describe, expect, it } from 'vitest';
import { defaultConfig } from '@tars/core';
import { pascal, reservedNameReason, validateAgentName } from './scaffold.js';

describe('validateAgentName', () => {
  const config = defaultConfig();
  it.each(['a--b', 'ab-', '-ab', 'Ab', 'a_b', 'ä-bot', 'a'.repeat(41), 'a', '../x', 'a/b', 'a b'])('rejects %s', (name) => {
    expect(() => validateAgentName(name, config)).toThrow(`Invalid agent name "${name}"`);
  });

  it.each(['ab', 'a1', 'hello-bot', 'x-1-y', 'a'.repeat(40)])('accepts %s, whose class name is a word', (name) => {
    expect(() => validateAgentName(name, config)).not.toThrow();
    expect(pascal(name)).toMatch(/^[A-Z][A-Za-z0-9]*$/);
  });
});

describe('names whose generated code would not compile or would clobber another binary', () => {
  const config = defaultConfig();
  it.each([
    ['self', '`Self` is a Rust keyword'],
    ['agent', 'already defines a type `Agent`'],
    ['heartbeat', 'already defines a type `Heartbeat`'],
    ['rt', 'agent-rt is the Rust agent runtime crate'],
    ['tars-kernel', 'the kernel binary'],
  ])('refuses %s: %s', (name, why) => {
    expect(() => validateAgentName(name, config, 'rust')).toThrow(why);
  });

  it('refuses C keywords for CUDA modules only', () => {
    expect(() => validateAgentName('do', config, 'cuda')).toThrow('C/C++ keyword');
    expect(() => validateAgentName('do', config, 'rust')).not.toThrow();
    expect(reservedNameReason('selfie', 'rust')).toBeUndefined();
  });
});
