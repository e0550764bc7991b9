import { describe, it, expect } from 'vitest';
import { runStages, type Stage } from '../../../migrate/stages.js';
import { MigrateError, MigExit, StageFailure } from '../../../migrate/errors.js';
import { parseArgs } from '../../../src/cli/vzmigrate.js';
import { dumpArgs, restoreArgs } from '../../../src/criu/criu.js';

describe('migration stages', () => {
  it('undoes the completed stages and the failed one in reverse order, and names the stage', async () => {
    const log: string[] = [];
    const st = (name: string, fail = false): Stage => ({
      name,
      run: () => {
        log.push(`run ${name}`);
        if (fail) throw new StageFailure(MigExit.COPY, 'rsync died');
      },
      undo: () => void log.push(`undo ${name}`),
    });
    const err = await runStages([st('preflight'), st('register'), st('copy files', true), st('restore on DEST')], () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(MigrateError);
    expect(err.stage).toBe('copy files');
    expect(err.exit).toBe(6);
    expect(err.message).toBe('stage "copy files" failed: rsync died');
    expect(log).toEqual(['run preflight', 'run register', 'run copy files', 'undo copy files', 'undo register', 'undo preflight']);
  });

  it('keeps going when an undo fails, and times every stage', async () => {
    const notes: string[] = [];
    const stages: Stage[] = [
      { name: 'register', run: () => {}, undo: () => { throw new Error('DEST gone'); } },
      { name: 'restore on DEST', run: () => { throw new Error('criu'); } },
    ];
    const err = await runStages(stages, (m) => notes.push(m)).catch((e) => e);
    expect(err.exit).toBe(MigExit.RESTORE);
    expect(notes).toEqual(['undo of stage "register" failed: DEST gone']);
    const ok = await runStages([{ name: 'a', run: () => {} }], () => {});
    expect(ok.timings.map((t) => t.name)).toEqual(['a']);
  });
});

describe('vzmigrate command line', () => {
  it('parses vzmigrate options', () => {
    expect(parseArgs(['--online', '-r', 'no', '--keep-dst', '--ssh=-p 2222 -i key', '-t', '--dry-run', 'host', '101'])).toEqual({
      online: true, restart: false, json: false, remove: false, keepDst: true, ssh: '-p 2222 -i key', times: true, dryRun: true, quiet: false, pos: ['host', '101'],
    });
    // OpenVZ's spellings: --live, --check-only; restart mode and --json.
    expect(parseArgs(['--live', '--check-only', '--json', 'h', '1'])).toMatchObject({ online: true, dryRun: true, json: true });
    expect(parseArgs(['--restart', 'h', '1'])).toMatchObject({ online: false, restart: true });
    expect(() => parseArgs(['--restart', '--online', 'h', '1'])).toThrow(/exclude each other/);
    expect(() => parseArgs(['-r', 'maybe', 'h', '1'])).toThrow(/yes or no/);
    expect(() => parseArgs(['h'])).toThrow(/DEST and CTID/);
    expect(() => parseArgs(['--bogus', 'h', '1'])).toThrow(/unknown option/);
  });
});

describe('criu arguments', () => {
  const mounts = [{ key: 'console', dst: '/dev/console' }, { key: 'vz_dev_null', dst: '/dev/null' }, { key: 'vz_proc_meminfo', dst: '/proc/meminfo' }];
  it('dump: external console and mounts, page server, tasks left stopped', () => {
    const a = dumpArgs({ initPid: 42, dir: '/d', pageServer: { address: '127.0.0.1', port: 1234 }, leaveStopped: true }, mounts, 'tty[8800:1a]');
    expect(a.slice(0, 5)).toEqual(['dump', '-t', '42', '-D', '/d']);
    expect(a.join(' ')).toContain('--external tty[8800:1a] --external mnt[/dev/console]:console --external mnt[/dev/null]:vz_dev_null');
    expect(a.join(' ')).toContain('--page-server --address 127.0.0.1 --port 1234 --leave-stopped');
    expect(a).toContain('--tcp-established');
    expect(a).toContain('--manage-cgroups=soft');
  });
  it('restore: mounts from this node, the console left to the monitor, an empty netns for the hook', () => {
    const src = new Map([['/dev/null', '/dev/null'], ['/proc/meminfo', '/var/lib/lxcfs/proc/meminfo']]);
    const a = restoreArgs('/d', '/root/101', mounts, src, '/run/101.criu-hook', '/n2/101').join(' ');
    // Into this node's cgroups, systemd's sub-cgroups made again (soft: existing ones keep their limits).
    expect(a).toContain('--manage-cgroups=soft --cgroup-root /n2/101');
    expect(a).toContain('--root /root/101');
    expect(a).toContain('--empty-ns net --action-script /run/101.criu-hook');
    expect(a).toContain('--external mnt[vz_proc_meminfo]:/var/lib/lxcfs/proc/meminfo');
    expect(a).not.toContain('mnt[console]');
    expect(() => restoreArgs('/d', '/r', mounts, new Map(), '/h', '/n/1')).toThrow(/no source on this node/);
  });
});
