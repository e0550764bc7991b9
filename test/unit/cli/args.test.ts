import { describe, it, expect } from 'vitest';
import { fastPath, splitExecArgs } from '../../../src/cli/main.js';
import { renderTable } from '../../../src/cli/table.js';

describe('vzctl argument shapes', () => {
  it('passes everything after the CTID of exec to the command, options included', () => {
    expect(splitExecArgs(['exec', '101', 'ps', '-ef'])).toEqual(['exec', '101', '--', 'ps', '-ef']);
    expect(splitExecArgs(['--json', 'exec', '101', '--', 'ls', '-l'])).toEqual(['--json', 'exec', '101', '--', 'ls', '-l']);
    expect(splitExecArgs(['start', '101'])).toEqual(['start', '101']);
  });

  it('takes the fast path only for plainly shaped calls', () => {
    expect(fastPath(['status', '101'])?.args).toEqual({ ctid: '101' });
    expect(fastPath(['exec', 'web', 'ls', '-l'])?.args).toEqual({ ctid: 'web', command: ['ls', '-l'] });
    expect(fastPath(['-q', 'exec', 'web', 'ls'])?.args).toEqual({ ctid: 'web', quiet: true, command: ['ls'] });
    expect(fastPath(['status', '101', '--json'])?.args).toEqual({ ctid: '101', json: true });
    expect(fastPath(['--json', 'start', '101', '-q'])?.args).toEqual({ ctid: '101', json: true, quiet: true });
    expect(fastPath(['stop', '101', '--fast'])?.args).toEqual({ ctid: '101', fast: true });
    expect(fastPath(['start', '101', '--fast'])).toBeUndefined();
    expect(fastPath(['status', '101', '--bogus'])).toBeUndefined();
    expect(fastPath(['status', '--help'])).toBeUndefined();
    expect(fastPath(['exec', '101', '--', 'ls'])).toBeUndefined();
    expect(fastPath(['exec', '101'])).toBeUndefined();
    expect(fastPath(['start', '101'])?.args).toEqual({ ctid: '101' });
    expect(fastPath(['create', '101'])).toBeUndefined();
    expect(fastPath(['toString', '101'])).toBeUndefined();
  });
});

describe('renderTable', () => {
  it('aligns numbers right and text left, with - for empty cells', () => {
    const t = renderTable(
      [
        { id: 101, n: 5, h: 'web' },
        { id: 2, n: null, h: '' },
      ],
      [
        { header: 'CTID', get: (r) => r.id, right: true },
        { header: 'NPROC', get: (r) => r.n, right: true },
        { header: 'HOSTNAME', get: (r) => r.h },
      ],
    );
    expect(t.split('\n')).toEqual(['CTID NPROC HOSTNAME', ' 101     5 web', '   2     - -']);
  });
});

import { commandArgv } from '../../../src/core/ops/exec.js';
describe('vzctl exec command forms', () => {
  it('runs one argument with shell syntax through sh -c, as vzctl does', () => {
    expect(commandArgv(['ps aux | grep init'])).toEqual(['/bin/sh', '-c', 'ps aux | grep init']);
    expect(commandArgv(['echo $HOME'])).toEqual(['/bin/sh', '-c', 'echo $HOME']);
  });
  it('runs plain words and several arguments exactly as given', () => {
    expect(commandArgv(['ps'])).toEqual(['ps']);
    expect(commandArgv(['sh', '-c', 'exit 7'])).toEqual(['sh', '-c', 'exit 7']);
  });
  it('reads a script from stdin for "-"', () => {
    expect(commandArgv(['-'])).toEqual(['/bin/sh', '-s']);
  });
});
