import { describe, expect, it } from 'vitest';
import { defaultConfig } from '@tars/core';
import { pascal, validateAgentName } from './scaffold.js';

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
