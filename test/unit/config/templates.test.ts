import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { listOsTemplates, listProfiles, loadOsTemplate, loadProfile } from '../../../src/config/templates.js';
import { cleanupTmp, tmpTree, vzError } from './helpers.js';

afterAll(cleanupTmp);

const SHIPPED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../templates');

describe('shipped templates and profiles', () => {
  it('lists them', () => {
    expect(listOsTemplates(SHIPPED)).toContain('busybox');
    expect(listProfiles(SHIPPED)).toEqual(expect.arrayContaining(['basic', 'default']));
  });

  it('loads every OS template', () => {
    for (const name of listOsTemplates(SHIPPED)) {
      const t = loadOsTemplate(SHIPPED, name);
      expect(t.name).toBe(name);
      expect(t.description).not.toBe('');
      expect(t.init[0]).toMatch(/^\//);
    }
  });

  it('loads every profile', () => {
    for (const name of listProfiles(SHIPPED)) {
      const p = loadProfile(SHIPPED, name);
      expect(p.name).toBe(name);
      expect(p.description).not.toBe('');
    }
  });

  it('busybox is driven the way busybox init expects', () => {
    expect(loadOsTemplate(SHIPPED, 'busybox')).toEqual({
      name: 'busybox',
      file: path.join(SHIPPED, 'os/busybox.yaml'),
      description: expect.any(String),
      build: { type: 'busybox' },
      distro: 'busybox',
      init_type: 'busybox',
      init: ['/sbin/init'],
      halt_signal: 'SIGUSR1',
      reboot_signal: 'SIGTERM',
      stop_timeout: 10,
      defaults: {},
    });
  });

  it('debian-12 and debian-13 build with debootstrap and boot systemd', () => {
    for (const [name, suite] of [['debian-12', 'bookworm'], ['debian-13', 'trixie']] as const) {
      const t = loadOsTemplate(SHIPPED, name);
      expect(t).toMatchObject({ distro: 'debian', init_type: 'systemd', init: ['/sbin/init'], halt_signal: 'SIGRTMIN+3', reboot_signal: 'SIGINT' });
      expect(t.build).toMatchObject({ type: 'debootstrap', suite, variant: 'minbase' });
      const b = t.build as { packages: string[]; mask: string[] };
      for (const p of ['systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'ifupdown', 'ca-certificates']) expect(b.packages).toContain(p);
      expect(b.mask).toContain('sys-kernel-debug.mount');
    }
  });

  it('basic parses to typed params', () => {
    const M = 2 ** 20;
    expect(loadProfile(SHIPPED, 'basic').params).toEqual({ onboot: false, stop_timeout: 30, ram: 256 * M, swap: 256 * M, cpulimit: 50, cpuunits: 500, ioprio: 4, numproc: 512 });
  });

  it('default limits RAM, swap, CPU time and processes (issue 13: a plain create was unlimited)', () => {
    const M = 2 ** 20;
    expect(loadProfile(SHIPPED, 'default').params).toEqual({ onboot: false, stop_timeout: 30, ram: 512 * M, swap: 512 * M, cpulimit: 100, cpuunits: 1000, ioprio: 4, numproc: 1024 });
  });

  it('unlimited spells every host-wide limit out as unlimited', () => {
    expect(loadProfile(SHIPPED, 'unlimited').params).toMatchObject({ ram: null, cpulimit: null, numproc: null });
  });
});

const OK_OS = 'description: t\nbuild:\n  type: busybox\n';

function osTemplate(text: string, name = 'x') {
  const dir = tmpTree({ [`os/${name}.yaml`]: text });
  return { dir, file: path.join(dir, 'os', `${name}.yaml`), load: () => loadOsTemplate(dir, name) };
}

describe('loadOsTemplate', () => {
  it('fills defaults for optional keys', () => {
    expect(osTemplate(OK_OS).load()).toMatchObject({
      description: 't',
      build: { type: 'busybox' },
      init: ['/sbin/init'],
      halt_signal: 'SIGPWR',
      reboot_signal: 'SIGINT',
      stop_timeout: undefined,
      defaults: {},
    });
  });

  it('validates defaults as profile params', () => {
    const t = osTemplate(OK_OS + 'init: [/bin/init, --quiet]\nhalt_signal: 37\ndefaults:\n  onboot: yes\n  stop_timeout: "20"\n').load();
    expect(t.init).toEqual(['/bin/init', '--quiet']);
    expect(t.halt_signal).toBe('SIGRTMIN+3');
    expect(t.defaults).toEqual({ onboot: true, stop_timeout: 20 });
  });

  it.each([
    [OK_OS + 'foo: 1\n', ':4: unknown key "foo"'],
    [OK_OS + 'stop_timeout: soon\n', ':4: "stop_timeout" must be an integer'],
    [OK_OS + 'halt_signal: SIGNOPE\n', ':4: invalid halt_signal "SIGNOPE"'],
    [OK_OS + 'init: sbin/init\n', ':4: "init" must start with an absolute path'],
    [OK_OS + 'init: []\n', ':4: "init" must start with an absolute path'],
    [OK_OS + 'init: [/sbin/init, 5]\n', ':4: "init" item 2 must be a string'],
    [OK_OS + 'defaults:\n  onboot: yes\n  rram: 1G\n', ':6: unknown key "rram"'],
    [OK_OS + 'defaults:\n  ram: 1X\n', ':5: invalid size'],
    [OK_OS + 'defaults:\n  hostname: web\n', ':5: "hostname" cannot be used in a profile'],
    [OK_OS + 'defaults:\n  stop_timeout: 0\n', ':5: "stop_timeout" must be an integer in 1..3600'],
    [OK_OS + 'defaults: [a]\n', ':4: "defaults" must be a mapping'],
    ['description: t\nbuild:\n  type: busybox\n  suite: bookworm\n', ':4: unknown key "build.suite"'],
    ['description: t\nbuild:\n  type: rpm\n', ':3: unknown build type "rpm" (known: busybox, debootstrap)'],
    ['description: t\nbuild:\n  variant: x\n', ':2: missing required key "build.type"'],
    ['description: t\nbuild:\n  type: debootstrap\n  variant: minbase\n', ':2: missing required key "build.suite"'],
    ['description: t\nbuild:\n  type: debootstrap\n  suite: bookworm\n  packges: [x]\n', ':5: unknown key "build.packges"'],
    ['description: t\nbuild:\n  type: debootstrap\n  suite: bookworm\n  packages: [Bad_Name]\n', ':5: invalid package name "Bad_Name"'],
    ['description: t\nbuild:\n  type: debootstrap\n  suite: bookworm\n  mirror: ftp.debian.org\n', ':5: invalid mirror'],
    ['description: t\nbuild:\n  type: debootstrap\n  suite: bookworm\n  mask: [notaunit]\n', ':5: invalid systemd unit name'],
    ['description: t\ndistro: gentoo\nbuild: {type: busybox}\n', ':2: unknown distro "gentoo"'],
    ['description: t\ninit_type: upstart\nbuild: {type: busybox}\n', ':2: unknown init_type "upstart"'],
    ['description: t\nbuild: busybox\n', ':2: "build" must be a mapping'],
    ['description: t\n', ':1: missing required key "build"'],
    ['description: [t]\nbuild: {type: busybox}\n', ':1: "description" must be a string'],
    ['build: {type: busybox\n', ':2: '],
  ])('rejects %j with file:line', (text, msg) => {
    const { file, load } = osTemplate(text);
    vzError(load, 'INVALID_CONFIG', file + msg);
  });

  it('rejects unknown and badly named templates, listing the available ones', () => {
    const { dir } = osTemplate(OK_OS, 'alpha');
    vzError(() => loadOsTemplate(dir, 'nope'), 'TEMPLATE_NOT_FOUND', 'unknown OS template "nope" (available: alpha)');
    vzError(() => loadOsTemplate(dir, '../os/alpha'), 'TEMPLATE_NOT_FOUND', 'unknown OS template "../os/alpha"');
    vzError(() => loadOsTemplate(dir, 'Alpha'), 'TEMPLATE_NOT_FOUND');
    vzError(() => loadOsTemplate(tmpTree(), 'x'), 'TEMPLATE_NOT_FOUND', '(available: none)');
  });
});

describe('loadProfile', () => {
  function profile(text: string) {
    const dir = tmpTree({ 'profiles/p.yaml': text });
    return { file: path.join(dir, 'profiles/p.yaml'), load: () => loadProfile(dir, 'p') };
  }

  it('reads the description and params', () => {
    expect(profile('description: small\nonboot: on\nstop_timeout: 5\n').load()).toMatchObject({
      name: 'p',
      description: 'small',
      params: { onboot: true, stop_timeout: 5 },
    });
    expect(profile('onboot: no\n').load().description).toBe('');
  });

  it.each([
    ['description: d\nonboot: perhaps\n', ':2: "onboot" must be yes or no'],
    ['description: d\n\nbogus: 1\n', ':3: unknown key "bogus"'],
    ['description: d\nname: web\n', ':2: "name" cannot be used in a profile'],
    ['description: 5\n', ':1: "description" must be a string'],
  ])('rejects %j with file:line', (text, msg) => {
    const { file, load } = profile(text);
    vzError(load, 'INVALID_CONFIG', file + msg);
  });

  it('rejects an unknown profile', () => {
    vzError(() => loadProfile(SHIPPED, 'huge'), 'TEMPLATE_NOT_FOUND', 'unknown profile "huge" (available: basic, default');
  });
});

describe('listing', () => {
  it('ignores non-YAML files and bad names, and a missing folder', () => {
    const dir = tmpTree({ 'os/b.yaml': OK_OS, 'os/a.yaml': OK_OS, 'os/README': '', 'os/Bad.yaml': OK_OS, 'os/c.yml': OK_OS });
    expect(listOsTemplates(dir)).toEqual(['a', 'b']);
    expect(listProfiles(dir)).toEqual([]);
  });
});
