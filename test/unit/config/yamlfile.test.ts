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
