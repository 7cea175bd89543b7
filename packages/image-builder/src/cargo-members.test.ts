import { describe, expect, it } from 'vitest';
import { addCargoMember, readCargoMembers, removeCargoMember } from './cargo-members.js';

const multiLine = `[workspace]
resolver = "2"
members = [
    "crates/kcore",   # the core [no_std] crate
    "kernel",
    "agents/pong",
    "agents/pong-2",
]

[workspace.package]
edition = "2021"
`;

describe('the kernel workspace members list, edited in place', () => {
  it('reads a multi-line list whose comments hold a ] and a quote', () => {
    expect(readCargoMembers(multiLine.replace('# the core', "# it's the core"))).toEqual(['crates/kcore', 'kernel', 'agents/pong', 'agents/pong-2']);
    expect(readCargoMembers('[package]\nname = "x"\n')).toBeUndefined();
  });

  it('removes one member and its line, nothing else: not a member with a similar name, not the comments', () => {
    expect(removeCargoMember(multiLine, 'agents/pong')).toBe(multiLine.replace('    "agents/pong",\n', ''));
    expect(removeCargoMember(multiLine, 'agents/pong-2')).toBe(multiLine.replace('    "agents/pong-2",\n', ''));
  });

  it('a one-line list keeps its commas right, first, middle or last', () => {
    const one = 'members = ["a", "b", "c"]\n';
    expect(removeCargoMember(one, 'a')).toBe('members = ["b", "c"]\n');
    expect(removeCargoMember(one, 'b')).toBe('members = ["a", "c"]\n');
    expect(removeCargoMember(one, 'c')).toBe('members = ["a", "b"]\n');
    expect(removeCargoMember('members = ["a"]\n', 'a')).toBe('members = []\n');
  });

  it('adds after the last member in the list\'s own style, and not twice', () => {
    expect(addCargoMember('members = ["a", "b"]\n', 'agents/x')).toBe('members = ["a", "b", "agents/x"]\n');
    expect(addCargoMember('members = []\n', 'agents/x')).toBe('members = ["agents/x"]\n');
    expect(addCargoMember(multiLine, 'agents/x')).toBe(multiLine.replace('"agents/pong-2",\n', '"agents/pong-2",\n    "agents/x",\n'));
    expect(addCargoMember('members = [\n  "a" # last\n]\n', 'b')).toBe('members = [\n  "a",\n  "b" # last\n]\n');
    expect(addCargoMember(multiLine, 'kernel')).toBe(multiLine);
  });

  it('agent new then agent remove gives the manifest back byte for byte', () => {
    for (const text of [multiLine, 'members = ["crates/kcore", "kernel"]\n', 'members = [\n  "a" # last\n]\n']) {
      expect(removeCargoMember(addCargoMember(text, 'agents/scout') as string, 'agents/scout')).toBe(text);
    }
  });
});
