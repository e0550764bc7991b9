import { existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, defaultTemplatesDir, loadGlobalConfig } from '../../../src/config/global.js';
import { cleanupTmp, tmpTree, vzError } from './helpers.js';

afterAll(cleanupTmp);

/** Loads a config file with this text, via VZKIT_CONFIG. */
function load(text: string) {
  const dir = tmpTree({ 'vzkit.yaml': text });
  const file = path.join(dir, 'vzkit.yaml');
  return { file, cfg: () => loadGlobalConfig({ VZKIT_CONFIG: file, VZKIT_TEMPLATES: '/opt/tpl' }) };
}

describe('loadGlobalConfig', () => {
  it.skipIf(existsSync(DEFAULT_CONFIG_FILE))('uses all defaults when the default file is missing', () => {
    const cfg = loadGlobalConfig({ VZKIT_TEMPLATES: '/opt/tpl' });
    expect(cfg).toEqual({
      file: null,
      root: '/var/lib/vzkit',
      node: 'vz',
      idmap: { base: 200000, size: 65536, count: 1024 },
      stop_timeout: 60,
      templates_dir: '/opt/tpl',
      neighbour_devs: 'detect',
      sysinfo_intercept: true,
      paths: {
        db: '/var/lib/vzkit/vzkit.db',
        private: '/var/lib/vzkit/private',
        mounts: '/var/lib/vzkit/root',
        run: '/var/lib/vzkit/run',
        locks: '/var/lib/vzkit/lock',
        logs: '/var/lib/vzkit/log',
        cache: '/var/lib/vzkit/cache',
        dumps: '/var/lib/vzkit/dump',
        backupKey: '/var/lib/vzkit/backup.key',
      },
    });
  });

  it.skipIf(existsSync(DEFAULT_CONFIG_FILE))('treats an empty VZKIT_CONFIG as unset', () => {
    expect(loadGlobalConfig({ VZKIT_CONFIG: '' }).file).toBeNull();
  });

  it('refuses a sysinfo_intercept that is not a boolean', () => {
    const { cfg } = load('sysinfo_intercept: maybe\n');
    expect(() => cfg()).toThrow(/sysinfo_intercept must be true or false/);
  });

  it('fails when the file named by VZKIT_CONFIG is missing', () => {
    const file = path.join(tmpTree(), 'nope.yaml');
    vzError(() => loadGlobalConfig({ VZKIT_CONFIG: file }), 'NOCONFIG', `${file}: no such file`);
  });

  it('reads every key and derives paths under root', () => {
    const { file, cfg } = load(
      'root: /srv/vz/\nnode: n1\nidmap:\n  base: 100000\n  size: 1000\n  count: 5\nstop_timeout: 15\ntemplates_dir: /srv/templates\nneighbour_devs: [eth0, bond0]\nsysinfo_intercept: false\n',
    );
    expect(cfg()).toEqual({
      file,
      root: '/srv/vz',
      node: 'n1',
      idmap: { base: 100000, size: 1000, count: 5 },
      stop_timeout: 15,
      templates_dir: '/srv/templates',
      neighbour_devs: ['eth0', 'bond0'],
      sysinfo_intercept: false,
      paths: {
        db: '/srv/vz/vzkit.db',
        private: '/srv/vz/private',
        mounts: '/srv/vz/root',
        run: '/srv/vz/run',
        locks: '/srv/vz/lock',
        logs: '/srv/vz/log',
        cache: '/srv/vz/cache',
        dumps: '/srv/vz/dump',
        backupKey: '/srv/vz/backup.key',
      },
    });
  });

  it('backup_key names a shared key file (an absolute path)', () => {
    expect(load('root: /srv/vz\nbackup_key: /etc/vzkit/fleet.key\n').cfg().paths.backupKey).toBe('/etc/vzkit/fleet.key');
    expect(() => load('backup_key: fleet.key\n').cfg()).toThrow(/"backup_key" must be an absolute path/);
  });

  it('fills idmap keys that are left out', () => {
    expect(load('idmap:\n  count: 8\n').cfg().idmap).toEqual({ base: 200000, size: 65536, count: 8 });
  });

  it('accepts an empty file', () => {
    const { file, cfg } = load('# all defaults\n');
    expect(cfg().file).toBe(file);
    expect(cfg().root).toBe('/var/lib/vzkit');
    expect(cfg().templates_dir).toBe('/opt/tpl');
  });

  it.each([
    ['root: /srv\nfoo: 1\n', ':2: unknown key "foo"'],
    ['idmap:\n  base: 100000\n  bogus: 1\n', ':3: unknown key "idmap.bogus"'],
    ['root: srv/vz\n', ':1: "root" must be an absolute path'],
    ['root: 5\n', ':1: "root" must be a string'],
    ['templates_dir: ./t\n', ':1: "templates_dir" must be an absolute path'],
    ['node: Node1\n', ':1: "node" must be 1-8 characters'],
    ['node: abcdefghi\n', ':1: "node" must be 1-8 characters'],
    ['node: 1a\n', ':1: "node" must be 1-8 characters'],
    ['stop_timeout: soon\n', ':1: "stop_timeout" must be an integer'],
    ['neighbour_devs: [eth/0]\n', ':1: invalid neighbour_devs device "eth/0"'],
    ['stop_timeout: 0\n', ':1: "stop_timeout" must be an integer in 1..3600'],
    ['idmap: 5\n', ':1: "idmap" must be a mapping'],
    ['idmap:\n  base: 1000\n', ':2: "idmap.base" must be an integer in 65536..'],
    ['idmap:\n  size: 0\n', ':2: "idmap.size" must be an integer in 1..'],
    ['idmap:\n  count: x\n', ':2: "idmap.count" must be an integer'],
    ['# pool too big\nidmap:\n  base: 4000000000\n  count: 10000\n', ':2: idmap pool 4000000000 + 65536 x 10000 ends at'],
    ['root: [\n', ':2: '],
  ])('rejects %j with file:line', (text, msg) => {
    const { file, cfg } = load(text);
    vzError(cfg, 'INVALID_CONFIG', file + msg);
  });

  it('accepts a pool that ends exactly at the last valid id', () => {
    // base + size*count - 1 = 2^32 - 2
    expect(load('idmap:\n  base: 4294901759\n  size: 65536\n  count: 1\n').cfg().idmap.base).toBe(4294901759);
    vzError(load('idmap:\n  base: 4294901760\n  size: 65536\n  count: 1\n').cfg, 'INVALID_CONFIG', 'past the last valid id');
  });
});

describe('defaultTemplatesDir', () => {
  const argv1 = process.argv[1];
  afterEach(() => {
    process.argv[1] = argv1;
  });

  it('prefers VZKIT_TEMPLATES', () => {
    expect(defaultTemplatesDir({ VZKIT_TEMPLATES: '/opt/tpl' })).toBe('/opt/tpl');
  });

  it('is templates/ in the package root (found from the code itself, src/ or dist/)', () => {
    const dir = defaultTemplatesDir({});
    expect(dir.endsWith('/templates')).toBe(true);
    expect(existsSync(path.join(dir, 'os', 'busybox.yaml'))).toBe(true);
  });
});
