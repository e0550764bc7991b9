import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { decode, encode, LineSplitter, ProtocolError, Stage } from '../../../src/runtime/protocol.js';

describe('control protocol codec', () => {
  it('encodes one JSON object per line', () => {
    expect(encode({ t: 'go' })).toBe('{"t":"go"}\n');
    expect(encode({ t: 'detach' }).endsWith('\n')).toBe(true);
  });

  it('decodes the helper messages it knows, strictly', () => {
    expect(decode('{"t":"spawned","pid":42}')).toEqual({ t: 'spawned', pid: 42 });
    expect(decode('{"t":"running","pid":42}')).toEqual({ t: 'running', pid: 42 });
    expect(decode('{"t":"error","stage":4,"errno":2,"msg":"mount proc"}')).toMatchObject({ stage: 4, errno: 2 });
    for (const bad of ['{"t":"spawned"}', '{"t":"spawned","pid":-1}', '{"t":"spawned","pid":1.5}', '{"t":"nope"}', 'not json', '[]', 'null']) {
      expect(() => decode(bad), bad).toThrow(ProtocolError);
    }
  });

  it('splits a stream into lines across any chunk boundary', () => {
    const s = new LineSplitter();
    expect(s.push('{"t":"spa')).toEqual([]);
    expect(s.push('wned","pid":1}\n{"t":"run')).toEqual(['{"t":"spawned","pid":1}']);
    expect(s.push('ning","pid":1}\n\n')).toEqual(['{"t":"running","pid":1}']);
  });

  it('refuses an endless line', () => {
    const s = new LineSplitter();
    expect(() => s.push('x'.repeat(70000))).toThrow(ProtocolError);
  });

  it('mirrors the stage numbers of native/protocol.h', () => {
    const h = fs.readFileSync(path.join(__dirname, '../../../native/protocol.h'), 'utf8');
    for (const [name, num] of Object.entries(Stage)) {
      expect(h).toMatch(new RegExp(`STAGE_${name}\\s*=\\s*${num},`));
    }
  });
});
