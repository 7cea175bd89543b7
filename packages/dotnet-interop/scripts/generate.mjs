// Generate the agent ABI bindings (C, Rust, C#, F#) from abi/agent-abi.json.
//   node scripts/generate.mjs          write generated/*
//   node scripts/generate.mjs --check  exit 1 if any generated file differs (the drift test)
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const abi = JSON.parse(readFileSync(join(root, 'abi/agent-abi.json'), 'utf8'));
const HEADER = 'Generated from abi/agent-abi.json by scripts/generate.mjs. Do not edit.';

// ---- types and layout -------------------------------------------------------------------
const PRIM = { u8: [1, 'uint8_t', 'u8', 'byte', 'byte'], u16: [2, 'uint16_t', 'u16', 'ushort', 'uint16'], u32: [4, 'uint32_t', 'u32', 'uint', 'uint32'], u64: [8, 'uint64_t', 'u64', 'ulong', 'uint64'], i32: [4, 'int32_t', 'i32', 'int', 'int32'], i64: [8, 'int64_t', 'i64', 'long', 'int64'], f32: [4, 'float', 'f32', 'float', 'float32'], void: [0, 'void', '()', 'void', 'unit'] };
const structs = new Map(abi.structs.map((s) => [s.name, s]));

function parseType(t) {
  t = t.trim();
  let m;
  if ((m = /^fn\((.*)\)\s*->\s*(\w+)$/.exec(t))) return { kind: 'fn', params: m[1] ? m[1].split(',').map(parseType) : [], ret: parseType(m[2]) };
  if ((m = /^ptr<(.+)>$/.exec(t))) return { kind: 'ptr', to: parseType(m[1]) };
  if ((m = /^(\w+)\[(\d+)\]$/.exec(t))) return { kind: 'array', of: parseType(m[1]), n: Number(m[2]) };
  if (PRIM[t]) return { kind: 'prim', name: t };
  if (structs.has(t)) return { kind: 'struct', name: t };
  throw new Error(`unknown ABI type ${t}`);
}

function layoutOf(ty) {
  switch (ty.kind) {
    case 'prim': return { size: PRIM[ty.name][0], align: PRIM[ty.name][0] || 1 };
    case 'ptr': case 'fn': return { size: 8, align: 8 };
    case 'array': { const l = layoutOf(ty.of); return { size: l.size * ty.n, align: l.align }; }
    case 'struct': return structLayout(structs.get(ty.name));
  }
}

function structLayout(s) {
  let off = 0, align = 1;
  const fields = s.fields.map((f) => {
    const ty = parseType(f.type);
    const l = layoutOf(ty);
    off = Math.ceil(off / l.align) * l.align;
    const at = off;
    off += l.size;
    align = Math.max(align, l.align);
    return { ...f, ty, offset: at };
  });
  return { size: Math.ceil(off / align) * align, align, fields };
}

const snake = (s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const pascal = (s) => s.toLowerCase().split('_').map((w) => w[0].toUpperCase() + w.slice(1)).join('');
const P = abi.prefix;

// ---- C ------------------------------------------------------------------------------------
function cType(ty, name = '') {
  const n = name ? ` ${name}` : '';
  switch (ty.kind) {
    case 'prim': return `${PRIM[ty.name][1]}${n}`;
    case 'struct': return `${P}_${snake(ty.name)}${n}`;
    case 'ptr': return `${cType(ty.to)} *${name}`;
    case 'array': return `${cType(ty.of)}${n}[${ty.n}]`;
    case 'fn': return `${cType(ty.ret)} (*${name})(${ty.params.map((p) => cType(p)).join(', ') || 'void'})`;
  }
}
function genC() {
  const g = `TARS_AGENT_ABI_H`;
  const out = [`/* ${HEADER} */`, `#ifndef ${g}`, `#define ${g}`, '#include <stddef.h>', '#include <stdint.h>', '', '#ifdef __cplusplus', 'extern "C" {', '#endif', ''];
  for (const c of abi.constants) out.push(`/* ${c.doc} */`, `#define ${P.toUpperCase()}_${c.name} ((${PRIM[c.type][1]})(${c.value}))`);
  out.push('');
  for (const s of abi.structs) {
    const l = structLayout(s);
    out.push(`/* ${s.doc} */`, `typedef struct ${P}_${snake(s.name)} {`);
    for (const f of l.fields) out.push(`  ${cType(f.ty, f.name)}; /* ${f.doc} */`);
    out.push(`} ${P}_${snake(s.name)};`);
    out.push(`_Static_assert(sizeof(${P}_${snake(s.name)}) == ${l.size}, "ABI drift: ${s.name} size");`);
    for (const f of l.fields) out.push(`_Static_assert(offsetof(${P}_${snake(s.name)}, ${f.name}) == ${f.offset}, "ABI drift: ${s.name}.${f.name}");`);
    out.push('');
  }
  out.push('/* Functions every agent library exports. */');
  for (const e of abi.exports) out.push(`${cType(parseType(e.ret))} ${P}_${e.name}(${e.params.map((p) => cType(parseType(p.type), p.name)).join(', ') || 'void'}); /* ${e.optional ? '(optional) ' : ''}${e.doc} */`);
  out.push('', '#ifdef __cplusplus', '}', '#endif', `#endif /* ${g} */`, '');
  return out.join('\n');
}

// ---- Rust ---------------------------------------------------------------------------------
function rsType(ty) {
  switch (ty.kind) {
    case 'prim': return ty.name === 'void' ? 'core::ffi::c_void' : PRIM[ty.name][2];
    case 'struct': return ty.name;
    case 'ptr': return `*mut ${rsType(ty.to)}`;
    case 'array': return `[${rsType(ty.of)}; ${ty.n}]`;
    case 'fn': return `Option<unsafe extern "C" fn(${ty.params.map(rsType).join(', ')})${ty.ret.name === 'void' ? '' : ` -> ${rsType(ty.ret)}`}>`;
  }
}
function genRust() {
  const out = [`// ${HEADER}`, '#![allow(dead_code)]', ''];
  for (const c of abi.constants) out.push(`/// ${c.doc}`, `pub const ${c.name}: ${PRIM[c.type][2]} = ${c.value};`);
  out.push('');
  for (const s of abi.structs) {
    const l = structLayout(s);
    out.push(`/// ${s.doc}`, '#[repr(C)]', '#[derive(Clone, Copy, Debug)]', `pub struct ${s.name} {`);
    for (const f of l.fields) out.push(`    /// ${f.doc}`, `    pub ${f.name}: ${rsType(f.ty)},`);
    out.push('}', `const _: () = assert!(core::mem::size_of::<${s.name}>() == ${l.size}, "ABI drift: ${s.name} size");`);
    for (const f of l.fields) out.push(`const _: () = assert!(core::mem::offset_of!(${s.name}, ${f.name}) == ${f.offset});`);
    out.push('');
  }
  out.push('/// Signatures and symbol names of the functions every agent library exports.');
  for (const e of abi.exports) {
    const params = e.params.map((p) => rsType(parseType(p.type))).join(', ');
    out.push(`/// ${e.doc}`, `pub type ${pascal(e.name)}Fn = unsafe extern "C" fn(${params}) -> ${rsType(parseType(e.ret))};`, `pub const SYM_${e.name.toUpperCase()}: &[u8] = b"${P}_${e.name}\\0";`);
  }
  out.push('');
  return out.join('\n');
}

// ---- C# -----------------------------------------------------------------------------------
// A host function marked `short` (never blocks, never calls back) is called without a GC
// transition: a plain indirect call instead of the managed → native switch.
function csType(ty, short = false) {
  switch (ty.kind) {
    case 'prim': return PRIM[ty.name][3];
    case 'struct': return ty.name;
    case 'ptr': return `${csType(ty.to)}*`;
    case 'fn': return `delegate* unmanaged${short ? '[SuppressGCTransition]' : ''}<${[...ty.params.map((t) => csType(t)), csType(ty.ret)].join(', ')}>`;
    case 'array': throw new Error('arrays are emitted as fixed buffers');
  }
}
function genCs() {
  const out = [`// ${HEADER}`, '#nullable enable', 'using System.Runtime.InteropServices;', '', 'namespace Tars.Agents.Abi;', '', 'public static class AbiConstants', '{'];
  for (const c of abi.constants) out.push(`    /// <summary>${c.doc}</summary>`, `    public const ${PRIM[c.type][3]} ${pascal(c.name)} = ${c.value}${c.type === 'u32' ? 'u' : ''};`);
  out.push('}', '');
  for (const s of abi.structs) {
    const l = structLayout(s);
    out.push(`/// <summary>${s.doc}</summary>`, `[StructLayout(LayoutKind.Sequential, Size = ${l.size})]`, `public unsafe struct ${s.name}`, '{');
    for (const f of l.fields) {
      out.push(`    /// <summary>${f.doc}</summary>`);
      if (f.ty.kind === 'array') out.push(`    public fixed ${csType(f.ty.of)} ${pascal(f.name)}[${f.ty.n}];`);
      else out.push(`    public ${csType(f.ty, f.short === true)} ${pascal(f.name)};`);
    }
    out.push('}', '');
  }
  out.push('/// <summary>Symbol names every agent library exports.</summary>', 'public static class ExportNames', '{');
  for (const e of abi.exports) out.push(`    public const string ${pascal(e.name)} = "${P}_${e.name}";`);
  out.push('}', '', '/// <summary>Expected struct sizes (checked by the SDK at start-up).</summary>', 'public static class AbiLayout', '{');
  for (const s of abi.structs) out.push(`    public const int ${s.name}Size = ${structLayout(s).size};`);
  out.push('}', '');
  return out.join('\n');
}

// ---- F# -----------------------------------------------------------------------------------
function fsType(ty) {
  switch (ty.kind) {
    case 'prim': return PRIM[ty.name][4];
    case 'struct': return ty.name;
    case 'ptr': case 'fn': return 'nativeint';
    case 'array': throw new Error('arrays are flattened');
  }
}
function genFs() {
  const out = [`// ${HEADER}`, 'namespace Tars.Agents.Abi', '', 'open System.Runtime.InteropServices', '', 'module AbiConstants ='];
  for (const c of abi.constants) {
    const suffix = c.type === 'u32' ? 'u' : c.type === 'u64' ? 'UL' : c.type === 'i64' ? 'L' : '';
    out.push(`    /// ${c.doc}`, '    [<Literal>]', `    let ${pascal(c.name)} = ${c.value}${suffix}`);
  }
  out.push('');
  for (const s of abi.structs) {
    const l = structLayout(s);
    out.push(`/// ${s.doc}`, `[<Struct; StructLayout(LayoutKind.Sequential, Size = ${l.size})>]`, `type ${s.name} =`);
    for (const f of l.fields) {
      if (f.ty.kind === 'array') for (let i = 0; i < f.ty.n; i++) out.push(`    val mutable ${pascal(f.name)}${i}: ${fsType(f.ty.of)}`);
      else out.push(`    /// ${f.doc}`, `    val mutable ${pascal(f.name)}: ${fsType(f.ty)}`);
    }
    out.push('');
  }
  out.push('module ExportNames =');
  for (const e of abi.exports) out.push('    [<Literal>]', `    let ${pascal(e.name)} = "${P}_${e.name}"`);
  out.push('', '/// Expected struct sizes.', 'module AbiLayout =');
  for (const s of abi.structs) out.push('    [<Literal>]', `    let ${s.name}Size = ${structLayout(s).size}`);
  out.push('');
  return out.join('\n');
}

const files = {
  'generated/tars_agent.h': genC(),
  'generated/abi.rs': genRust(),
  'generated/Abi.g.cs': genCs(),
  'generated/Abi.g.fs': genFs(),
  // The kernel's Rust agents use the same ABI (their runtime drives the same lifecycle).
  '../kernel-rs/crates/agent-rt/src/agent_abi.rs': genRust(),
};
const check = process.argv.includes('--check');
let drift = 0;
for (const [rel, text] of Object.entries(files)) {
  const path = join(root, rel);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
  if (check) {
    if (current !== text) {
      console.error(`ABI drift: ${rel} does not match abi/agent-abi.json (run \`npm run generate -w packages/dotnet-interop\`)`);
      drift++;
    }
  } else if (current !== text) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
    console.log(`wrote ${rel}`);
  }
}
if (check) {
  if (drift) process.exit(1);
  console.log(`ABI bindings up to date (${Object.keys(files).length} files, ABI version ${abi.version})`);
}
