import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadYamlFile, parseYaml } from '../../../src/config/yamlfile.js';
import { cleanupTmp, tmpTree, vzError } from './helpers.js';

afterAll(cleanupTmp);

const TEXT = `# comment
root: /srv/vz
idmap:
  base: 300000

  count: 10
"quoted key": 1
list:
  - a
  - name: x
    deep:
      deeper: 2
flow: {a: 1, b: [1, 2]}
`;

describe('parseYaml', () => {
  const doc = parseYaml(TEXT, 'cfg.yaml');

  it('returns the data and the file', () => {
    expect(doc.file).toBe('cfg.yaml');
    expect(doc.data).toEqual({
      root: '/srv/vz',
      idmap: { base: 300000, count: 10 },
      'quoted key': 1,
      list: ['a', { name: 'x', deep: { deeper: 2 } }],
      flow: { a: 1, b: [1, 2] },
    });
  });

  it.each([
    ['root', 2],
    ['idmap', 3],
    ['idmap.base', 4],
    ['idmap.count', 6],
    ['quoted key', 7],
    ['list', 8],
    ['list.0', 9],
    ['list.1', 10],
    ['list.1.name', 10],
    ['list.1.deep', 11],
    ['list.1.deep.deeper', 12],
    ['flow', 13],
    ['flow.b', 13],
    ['flow.b.1', 13],
  ])('locates %s on line %i', (key, line) => {
    expect(doc.lineOf(key)).toBe(line);
  });

  it('returns undefined for keys not in the file', () => {
    expect(doc.lineOf('nope')).toBeUndefined();
    expect(doc.lineOf('idmap.size')).toBeUndefined();
  });

  it('treats an empty or comment-only file as an empty mapping', () => {
    expect(parseYaml('', 'e.yaml').data).toEqual({});
    expect(parseYaml('# nothing here\n\n', 'e.yaml').data).toEqual({});
    expect(parseYaml('---\n', 'e.yaml').data).toEqual({});
  });

  it.each([
    ['a: 1\nb: [1,\n', 'bad.yaml:3: '],
    ['a: 1\n  b: 2\n', 'bad.yaml:2: bad indentation'],
    ['a: 1\nb: 2\na: 3\n', 'bad.yaml:3: duplicated mapping key'],
    ['a: 1\nb: "open\n', 'bad.yaml:'],
    ['a: 1\nb: *nope\n', 'bad.yaml:2: unidentified alias'],
    ['a: 1\n? [x]\n: 2\n', 'bad.yaml:2: a mapping key must be a plain value'],
    ['a: 1\nb:\n  ? {x: 1}\n  : 2\n', 'bad.yaml:3: a mapping key must be a plain value'],
  ])('reports malformed YAML %j with file and line', (text, msg) => {
    vzError(() => parseYaml(text, 'bad.yaml'), 'INVALID_CONFIG', msg);
  });

  it('requires a mapping at the top level', () => {
    vzError(() => parseYaml('- a\n- b\n', 'l.yaml'), 'INVALID_CONFIG', 'l.yaml:1: the top level must be a mapping');
    vzError(() => parseYaml('\n\njust text\n', 's.yaml'), 'INVALID_CONFIG', 's.yaml:3: the top level must be a mapping');
  });

  it('rejects several documents, pointing at the second', () => {
    vzError(() => parseYaml('a: 1\n---\nb: 2\n', 'm.yaml'), 'INVALID_CONFIG', 'm.yaml:3: expected one YAML document, found 2');
  });
});

describe('loadYamlFile', () => {
  it('reads a file and keeps its path', () => {
    const dir = tmpTree({ 'x.yaml': 'a:\n  b: 1\n' });
    const doc = loadYamlFile(path.join(dir, 'x.yaml'));
    expect(doc.data).toEqual({ a: { b: 1 } });
    expect(doc.file).toBe(path.join(dir, 'x.yaml'));
    expect(doc.lineOf('a.b')).toBe(2);
  });

  it('lets the caller choose the code for a missing file', () => {
    const dir = tmpTree();
    const file = path.join(dir, 'missing.yaml');
    vzError(() => loadYamlFile(file), 'NOCONFIG', `${file}: no such file`);
    vzError(() => loadYamlFile(file, { missing: 'TEMPLATE_NOT_FOUND' }), 'TEMPLATE_NOT_FOUND', `${file}: no such file`);
  });

  it('reports a directory or unreadable file with the same code', () => {
    const dir = tmpTree({ 'sub/x': '' });
    vzError(() => loadYamlFile(path.join(dir, 'sub')), 'NOCONFIG', 'cannot read it (EISDIR)');
    if (process.getuid?.() !== 0) {
      const file = path.join(dir, 'locked.yaml');
      writeFileSync(file, 'a: 1\n');
      chmodSync(file, 0o000);
      vzError(() => loadYamlFile(file), 'NOCONFIG', 'cannot read it (EACCES)');
    }
  });

  it('puts the real path and line into parse errors', () => {
    const dir = tmpTree({ 'bad.yaml': 'a: 1\nb: [\n' });
    vzError(() => loadYamlFile(path.join(dir, 'bad.yaml')), 'INVALID_CONFIG', `${path.join(dir, 'bad.yaml')}:3: `);
  });
});

describe('YAML limits (an archive or config file from elsewhere)', () => {
  /** A "billion laughs": 10 levels of 10 aliases each, 10^10 values once expanded, 500 bytes. */
  const bomb = (levels: number) => {
    let y = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i <= levels; i++) y += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    return y;
  };

  it('refuses an alias bomb at once, in one line, before building it', () => {
    const t = Date.now();
    vzError(() => parseYaml(bomb(9), 'bomb.yaml'), 'INVALID_CONFIG', 'bomb.yaml: more than 100000 values once its aliases are expanded');
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('still reads ordinary anchors and aliases', () => {
    expect(parseYaml(bomb(2), 'ok.yaml').data.a2).toHaveLength(10);
    expect(parseYaml('base: &b {ram: 1G}\nother: *b\n', 'ok.yaml').data).toEqual({ base: { ram: '1G' }, other: { ram: '1G' } });
  });

  it('counts a mapping anchor with its contents', () => {
    // 300 aliases of a 400-value mapping: 120 000 values.
    const big = `m: &m {${Array.from({ length: 200 }, (_, i) => `k${i}: v`).join(', ')}}\nl: [${Array(300).fill('*m').join(', ')}]\n`;
    vzError(() => parseYaml(big, 'big.yaml'), 'INVALID_CONFIG', 'more than 100000 values');
  });

  it('refuses too many aliases, too deep a nesting and too large a text', () => {
    vzError(() => parseYaml(`a: &a x\nl: [${Array(1001).fill('*a').join(', ')}]\n`, 'al.yaml'), 'INVALID_CONFIG', 'more than 1000 aliases');
    vzError(() => parseYaml(`${'['.repeat(70)}${']'.repeat(70)}\n`, 'deep.yaml'), 'INVALID_CONFIG', 'maxDepth');
    vzError(() => parseYaml(`a: "${'x'.repeat(1024 * 1024)}"\n`, 'huge.yaml'), 'INVALID_CONFIG', 'huge.yaml: larger than 1048576 bytes');
    const dir = tmpTree({ 'huge.yaml': `a: "${'x'.repeat(1024 * 1024)}"\n` });
    vzError(() => loadYamlFile(path.join(dir, 'huge.yaml')), 'INVALID_CONFIG', 'larger than 1048576 bytes');
  });
});
