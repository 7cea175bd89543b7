import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addCargoLockPackage, addCargoMember, readCargoMembers, readLockPackage, removeCargoLockPackage, removeCargoMember } from './cargo-members.js';

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

describe('Cargo.lock entries for new workspace members', () => {
  const lock = readFileSync(fileURLToPath(new URL('../../kernel-rs/Cargo.lock', import.meta.url)), 'utf8');
  const pkg = { name: 'agent-calc-rs', version: '0.1.0', dependencies: ['sandbox-guest'] };

  it('records a package where Cargo would, byte for byte as Cargo writes it, and removes it again', () => {
    const added = addCargoLockPackage(lock, pkg) as string;
    // What cargo 1.x wrote for this crate (agents/calc-rs on sandbox-guest), between agent-blk-client and agent-faulty.
    expect(added).toContain('name = "agent-blk-client"\nversion = "0.1.0"\ndependencies = [\n "agent-rt",\n]\n\n[[package]]\nname = "agent-calc-rs"\nversion = "0.1.0"\ndependencies = [\n "sandbox-guest",\n]\n\n[[package]]\nname = "agent-faulty"');
    expect(added.length - lock.length).toBe('[[package]]\nname = "agent-calc-rs"\nversion = "0.1.0"\ndependencies = [\n "sandbox-guest",\n]\n\n'.length);
    expect(addCargoLockPackage(added, pkg)).toBe(added);
    expect(removeCargoLockPackage(added, 'agent-calc-rs')).toBe(lock);
    // Last in order, and without dependencies.
    const last = addCargoLockPackage(lock, { name: 'zz-top', version: '1.0.0', dependencies: [] }) as string;
    expect(last.endsWith('[[package]]\nname = "zz-top"\nversion = "1.0.0"\n')).toBe(true);
    expect(removeCargoLockPackage(last, 'zz-top')).toBe(lock);
    expect(addCargoLockPackage('not a lock file', pkg)).toBeUndefined();
  });

  it('reads the package, version and dependency names of a template crate', () => {
    expect(readLockPackage('[package]\nname = "agent-x"\nversion = "0.2.0"\nedition.workspace = true\n\n[[bin]]\nname = "x"\n\n[dependencies]\nsandbox-guest = { path = "../../crates/sandbox-guest" }\n')).toEqual({ name: 'agent-x', version: '0.2.0', dependencies: ['sandbox-guest'] });
  });
});
