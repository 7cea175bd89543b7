/**
 * The `members = [...]` list of a Cargo workspace manifest, read and edited in place: a `]` or a
 * quote inside a comment does not end the list, and an edit changes only the element it adds or
 * removes (the list's lines, indentation, comments and trailing comma stay as they were).
 */

interface Element {
  value: string;
  start: number;
  end: number;
}

interface MembersList {
  elements: Element[];
  /** Offset of the `]` that closes the list. */
  close: number;
}

/** The list after `members =` at the start of a line, or undefined when there is none (or it does not close). */
function findMembers(text: string): MembersList | undefined {
  const open = /^members\s*=\s*\[/m.exec(text);
  if (!open) return undefined;
  const elements: Element[] = [];
  for (let i = open.index + open[0].length; i < text.length; i++) {
    const c = text[i];
    if (c === ']') return { elements, close: i };
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return undefined;
      elements.push({ value: text.slice(i + 1, end), start: i, end: end + 1 });
      i = end;
    }
  }
  return undefined;
}

/** The workspace members as written (undefined: the manifest has no members list). */
export function readCargoMembers(text: string): string[] | undefined {
  return findMembers(text)?.elements.map((e) => e.value);
}

/** `text` with `member` appended to the members list after its last element, or unchanged when present. */
export function addCargoMember(text: string, member: string, same: (a: string, b: string) => boolean = (a, b) => a === b): string | undefined {
  const list = findMembers(text);
  if (!list) return undefined;
  if (list.elements.some((e) => same(e.value, member))) return text;
  const last = list.elements.at(-1);
  if (!last) return `${text.slice(0, list.close)}"${member}"${text.slice(list.close)}`;
  const indent = text.slice(text.lastIndexOf('\n', last.start - 1) + 1, last.start);
  if (/^[ \t]*$/.test(indent)) {
    // One member a line: a new line, indented alike, after the last one's comma and comment.
    if (/^[ \t]*,/.test(text.slice(last.end))) {
      const eol = text.indexOf('\n', last.end);
      return `${text.slice(0, eol)}\n${indent}"${member}",${text.slice(eol)}`;
    }
    return `${text.slice(0, last.end)},\n${indent}"${member}"${text.slice(last.end)}`;
  }
  return `${text.slice(0, last.end)}, "${member}"${text.slice(last.end)}`;
}

/** `text` without the members `same` as `member`; each leaves with its comma, and its line when it was alone on it. */
export function removeCargoMember(text: string, member: string, same: (a: string, b: string) => boolean = (a, b) => a === b): string {
  const list = findMembers(text);
  if (!list) return text;
  let out = text;
  for (const [i, e] of [...list.elements.entries()].reverse()) {
    if (!same(e.value, member)) continue;
    let start = e.start;
    let end = e.end;
    const after = /^\s*,[ \t]*/.exec(out.slice(end));
    if (after) end += after[0].length;
    else if (i > 0) start = (list.elements[i - 1] as Element).end; // the last one: drop the comma before it
    // Alone on its line: the line goes too.
    const lineStart = out.lastIndexOf('\n', start - 1) + 1;
    const nl = out.indexOf('\n', end);
    const lineEnd = nl < 0 ? out.length : nl;
    if (/^[ \t]*$/.test(out.slice(lineStart, start)) && /^[ \t]*$/.test(out.slice(end, lineEnd)) && after) {
      start = lineStart;
      end = nl < 0 ? lineEnd : nl + 1;
    }
    out = out.slice(0, start) + out.slice(end);
  }
  return out;
}

/** A workspace package as Cargo.lock records it (a path crate: no source, no checksum). */
export interface LockPackage {
  name: string;
  version: string;
  dependencies: string[];
}

const lockBlocks = (text: string) => text.split(/\n(?=\[\[package\]\]\n)/);
const blockName = (b: string) => /^\[\[package\]\]\nname = "([^"]+)"/.exec(b)?.[1];

/**
 * Cargo.lock with `pkg` recorded in Cargo's order (by name), as the first build would record it:
 * a new member's first build then leaves the lock file (an input of every Rust step) as it was.
 * Undefined when the file is not a lock file this understands (Cargo writes it at the build).
 */
export function addCargoLockPackage(text: string, pkg: LockPackage): string | undefined {
  if (!/^version = [34]$/m.test(text) || !text.includes('[[package]]')) return undefined;
  const blocks = lockBlocks(text.replace(/\n+$/, ''));
  if (blocks.some((b) => blockName(b) === pkg.name)) return text;
  const deps = [...pkg.dependencies].sort();
  const block = `[[package]]\nname = "${pkg.name}"\nversion = "${pkg.version}"\n${deps.length ? `dependencies = [\n${deps.map((d) => ` "${d}",\n`).join('')}]\n` : ''}`;
  const at = blocks.findIndex((b, i) => i > 0 && (blockName(b) ?? '') > pkg.name);
  if (at < 0) blocks.push(block.replace(/\n$/, ''));
  else blocks.splice(at, 0, block);
  return `${blocks.join('\n')}\n`;
}

/** Cargo.lock without package `name` (what the build after `agent remove` would write). */
export function removeCargoLockPackage(text: string, name: string): string {
  const blocks = lockBlocks(text.replace(/\n+$/, ''));
  const kept = blocks.filter((b) => blockName(b) !== name);
  if (kept.length === blocks.length) return text;
  return `${kept.join('\n').replace(/\n+$/, '')}\n`;
}

/** The package name, version and dependency names of a crate's Cargo.toml (as the templates write it). */
export function readLockPackage(cargoToml: string): LockPackage | undefined {
  const section = (name: string) => {
    const m = new RegExp(`^\\[${name}\\]\\s*$([\\s\\S]*?)(?=^\\[|(?![\\s\\S]))`, 'm').exec(cargoToml);
    return m?.[1] ?? '';
  };
  const pkg = section('package');
  const name = /^name\s*=\s*"([^"]+)"/m.exec(pkg)?.[1];
  const version = /^version\s*=\s*"([^"]+)"/m.exec(pkg)?.[1];
  if (!name || !version) return undefined;
  const dependencies = [...section('dependencies').matchAll(/^([A-Za-z0-9_-]+)\s*=/gm)].map((m) => m[1] as string);
  return { name, version, dependencies };
}
