import { readFileSync, mkdtempSync, readFileSync as rf } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendStepSummary, buildSummaryMarkdown, parseDiagnostics, resolveDiagnosticPath, workflowCommand } from '../src/index.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const REPO = new URL('../../../', import.meta.url).pathname;

describe('compiler diagnostics → GitHub annotations (output captured from this repo’s builds)', () => {
  it('cargo/rustc errors', () => {
    const d = parseDiagnostics(fixture('cargo-build.txt'));
    expect(d).toEqual([{ tool: 'rustc', level: 'error', file: 'agents/ping/src/main.rs', line: 31, col: 5, code: 'E0425', message: 'cannot find value `undefined_symbol` in this scope' }]);
    const file = resolveDiagnosticPath(d[0]?.file as string, REPO, ['packages/kernel-rs']);
    expect(file).toBe('packages/kernel-rs/agents/ping/src/main.rs');
    expect(workflowCommand({ ...(d[0] as never), file })).toBe('::error file=packages/kernel-rs/agents/ping/src/main.rs,line=31,col=5,title=rustc E0425::cannot find value `undefined_symbol` in this scope');
  });

  it('cargo/rustc warnings', () => {
    expect(parseDiagnostics(fixture('cargo-warning.txt'))).toEqual([{ tool: 'rustc', level: 'warning', file: 'agents/ping/src/main.rs', line: 30, col: 9, message: 'unused variable: `unused_value`' }]);
  });

  it('dotnet/MSBuild errors, de-duplicated from the summary', () => {
    const d = parseDiagnostics(fixture('dotnet-build.txt'));
    expect(d.map((x) => [x.tool, x.level, x.code, x.line, x.col])).toEqual([
      ['dotnet', 'error', 'CS0103', 10, 35],
      ['dotnet', 'error', 'CS0103', 16, 5],
    ]);
    expect(resolveDiagnosticPath(d[0]?.file as string, REPO)).toBe('packages/dotnet-interop/test/cs/Program.cs');
  });

  it('nvcc errors and warnings', () => {
    expect(parseDiagnostics(fixture('nvcc-build.txt'))).toEqual([
      { tool: 'nvcc', level: 'error', file: 'broken.cu', line: 2, message: 'identifier "blockDimm" is undefined' },
      { tool: 'nvcc', level: 'warning', file: 'broken.cu', line: 3, code: '177-D', message: 'variable "unused" was declared but never referenced' },
    ]);
  });

  it('escapes workflow-command data and properties', () => {
    expect(workflowCommand({ tool: 'rustc', level: 'warning', file: 'a,b:c.rs', line: 1, message: '50% done\nnext' })).toBe('::warning file=a%2Cb%3Ac.rs,line=1,title=rustc::50%25 done%0Anext');
  });

  it('container paths are rebased onto the repository', () => {
    expect(resolveDiagnosticPath('/workspace/packages/kernel-rs/kernel/src/main.rs', REPO)).toBe('packages/kernel-rs/kernel/src/main.rs');
  });

  it('writes a markdown build summary to $GITHUB_STEP_SUMMARY', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tars-sum-')), 'summary.md');
    const md = buildSummaryMarkdown({
      name: 'tars-os', version: '0.1.0', format: 'iso', dir: 'dist/iso', durationMs: 1500,
      files: [{ path: 'tars-os-0.1.0.iso', size: 10, sha256: 'f'.repeat(64) }],
      components: [{ id: 'kernel', executor: 'cache', durationMs: 12, outputs: [{ size: 5, sha256: 'a'.repeat(64) }] }, { id: 'agent:ping', executor: 'docker', durationMs: 900, outputs: [{ size: 7, sha256: 'b'.repeat(64) }] }],
    });
    expect(appendStepSummary(md, { GITHUB_STEP_SUMMARY: path })).toBe(true);
    const text = rf(path, 'utf8');
    expect(text).toContain('1 of 2 components from cache');
    expect(text).toContain('| agent:ping | built (docker) | 7 B | 900 ms |');
    expect(appendStepSummary(md, {})).toBe(false);
  });
});
