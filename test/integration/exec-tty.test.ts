/**
 * `vzctl exec` as a hostile container sees it: a trojaned command (test/probe/tty-trojan.c) run
 * from an admin's real terminal (test/integration/admin-tty.py, a pty that is the controlling
 * terminal of a shell, as an ssh session is) tries TIOCSTI, reads keystrokes and rewrites a
 * host file the admin redirected into, at once and from processes it leaves behind. None of it
 * may reach the host: the command gets a pty of the container (stdin a terminal) or pipes the
 * helper relays, never a host fd. Also vzkit's own work inside: `set --hostname` runs no
 * program of the container, and `stop` is not locked out by anything the container controls.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { TestNode, isRoot, REPO, waitFor, type RunResult } from './harness.js';

const CT = '713';
const VZCTL = path.join(REPO, 'dist', 'vzctl');
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Shell that waits (at most 20 s) until file has a line matching the extended regexp. */
function waitScript(file: string, re: string): string {
  return `for i in $(seq 200); do grep -Eq '${re}' ${file} 2>/dev/null && break; sleep 0.1; done`;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe.skipIf(!isRoot)('vzctl exec hands nothing of the host to the container', () => {
  let n: TestNode;
  let ctRoot: string;

  /** Runs script with sh on a fresh pty, typing "TRIGGER=TEXT" actions; the transcript is stdout. */
  function adminTty(script: string, ...actions: string[]): RunResult {
    const r = spawnSync(PYTHON, [path.join(REPO, 'test/integration/admin-tty.py'), script, ...actions], { env: n.env, encoding: 'utf8', timeout: 90_000 });
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** A file the container wrote under its /tmp ('' when there is none). */
  function ctTmp(name: string): string {
    try {
      return fs.readFileSync(path.join(ctRoot, 'tmp', name), 'utf8');
    } catch {
      return '';
    }
  }

  beforeAll(() => {
    n = new TestNode();
    n.ok('create', CT, '--ostemplate', 'busybox', '--hostname', 'before');
    n.ok('start', CT);
    ctRoot = path.join(n.root, 'root', CT);
    const probe = path.join(n.dir, 'tty-trojan');
    const cc = spawnSync('gcc', ['-static', '-O1', '-o', probe, path.join(REPO, 'test/probe/tty-trojan.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    fs.copyFileSync(probe, path.join(ctRoot, 'tmp/tty-trojan'));
    fs.chmodSync(path.join(ctRoot, 'tmp/tty-trojan'), 0o755);
  }, 120_000);

  afterAll(() => n?.cleanup());

  it('TIOCSTI on fds 0, 1, 2 and /dev/tty, from the command and from what it leaves behind, types nothing into the admin shell', () => {
    const marker = path.join(n.dir, 'injected');
    const late = path.join(ctRoot, 'tmp/sti-late');
    // The admin's shell reads its terminal again only once the process left behind has tried.
    const t = adminTty(`${VZCTL} exec ${CT} /tmp/tty-trojan sti 'touch ${marker}'; echo "rc=$?"; ${waitScript(late, 'sti_fd2')}; echo now-shell; exec sh`, 'now-shell=exit');
    expect(t.stdout).toContain('rc=0');
    expect(t.stdout).toMatch(/now sti_fd0 /);
    // The process left behind did try, 1.5 s after the command returned.
    expect(ctTmp('sti-late')).toMatch(/late sti_fd2 /);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a keystroke reader left behind gets nothing the admin types afterwards', () => {
    const t = adminTty(
      `${VZCTL} exec ${CT} /tmp/tty-trojan read 10; echo "rc=$?"; sleep 1; echo typing-now; sleep 2; echo now-shell; exec sh`,
      'typing-now=echo SECRET-$((6*7))',
      'now-shell=exit',
    );
    expect(t.stdout).toContain('rc=0');
    // The admin's shell got the line; the container did not.
    expect(t.stdout).toContain('SECRET-42');
    expect(ctTmp('keys')).not.toContain('SECRET');
  });

  it('a process left behind cannot rewrite the host file the output was appended to (terminal on stdin)', () => {
    fs.rmSync(path.join(ctRoot, 'tmp/rewrite-late'), { force: true });
    const file = path.join(n.dir, 'log-tty');
    fs.writeFileSync(file, 'ORIGINAL\n');
    const t = adminTty(`${VZCTL} exec ${CT} /tmp/tty-trojan rewrite >> ${file}; echo "rc=$?"; ${waitScript(path.join(ctRoot, 'tmp/rewrite-late'), 'truncate')}`);
    expect(t.stdout).toContain('rc=0');
    expect(ctTmp('rewrite-late')).toMatch(/^truncate /m);
    expect(fs.readFileSync(file, 'utf8')).toBe('ORIGINAL\nhello\n');
  });

  it('a process left behind cannot rewrite the host file the output was appended to (no terminal)', () => {
    fs.rmSync(path.join(ctRoot, 'tmp/rewrite-late'), { force: true });
    const file = path.join(n.dir, 'log-pipe');
    fs.writeFileSync(file, 'ORIGINAL\n');
    const fd = fs.openSync(file, 'a');
    try {
      const r = spawnSync(VZCTL, ['exec', CT, '/tmp/tty-trojan', 'rewrite'], { env: n.env, stdio: ['ignore', fd, 'pipe'], timeout: 30_000 });
      expect(r.status).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
    expect(waitFor(() => ctTmp('rewrite-late').includes('truncate'), 20_000)).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe('ORIGINAL\nhello\n');
  });

  it('a process left behind does not keep vzctl exec waiting', () => {
    const t0 = Date.now();
    const r = n.run('vzctl', ['exec', CT, 'sh', '-c', 'sleep 20 & echo started'], { timeout: 15_000 });
    expect({ code: r.code, out: r.stdout.trim() }).toEqual({ code: 0, out: 'started' });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('on a terminal the command gets a pty of the container: window size, typing, exit codes, the terminal restored; a pipe on stdout leaves the terminal alone', () => {
    const own = '[ "$(stat -L -c %d /proc/self/fd/0)" = "$(stat -c %d /dev/pts/ptmx)" ] && echo container-pty; stty size';
    const t = adminTty(
      [
        'a=$(stty -g)',
        `${VZCTL} exec ${CT} '${own}'`,
        `${VZCTL} exec ${CT} sh -c 'echo ask; read x; echo got-$x; exit 3'; echo "rc=$?"`,
        `${VZCTL} exec ${CT} sh -c 'kill -TERM $$'; echo "rc=$?"`,
        `${VZCTL} exec ${CT} /nonexistent; echo "rc=$?"`,
        // stdin a pipe, stdout the terminal: the script still comes through.
        `printf 'echo from-script-$((2+3))\\n' | ${VZCTL} exec ${CT} -; echo "rc=$?"`,
        // Output into a pipe (a pager): the terminal is left to the pager and the shell.
        `${VZCTL} exec ${CT} sh -c 'echo asked; sleep 1; read x && echo got-$x || echo stdin-at-eof' | cat`,
        'read line; echo "shell-read:$line"',
        '[ "$a" = "$(stty -g)" ] && echo tty-restored',
      ].join('\n'),
      'ask=hello',
      'asked=kept-line',
    );
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('container-pty');
    expect(t.stdout).toMatch(/^33 111\r?$/m);
    expect(t.stdout).toContain('got-hello');
    expect(t.stdout.match(/rc=\d+/g)).toEqual(['rc=3', 'rc=143', 'rc=127', 'rc=0']);
    expect(t.stdout).toContain('from-script-5');
    expect(t.stdout).toContain('stdin-at-eof');
    expect(t.stdout).toContain('shell-read:kept-line');
    expect(t.stdout).toContain('tty-restored');
  });

  it('set --hostname runs no program of the container', () => {
    n.ok('exec', CT, 'sh', '-c', 'mkdir -p /usr/local/sbin && printf "#!/bin/sh\\ntouch /tmp/trojan-hostname-ran\\n" > /usr/local/sbin/hostname && chmod 755 /usr/local/sbin/hostname');
    n.ok('set', CT, '--hostname', 'after1');
    expect(n.ok('exec', CT, 'cat', '/proc/sys/kernel/hostname').trim()).toBe('after1');
    expect(ctTmp('trojan-hostname-ran')).toBe('');
    expect(fs.existsSync(path.join(ctRoot, 'tmp/trojan-hostname-ran'))).toBe(false);
  });

  it("vzkit's own commands inside (ctspawn exec --timeout) end at their timeout, their process group killed", () => {
    const initPid = n.vzlist('-H', '-o', 'init_pid', CT).stdout.trim();
    const t0 = Date.now();
    const r = spawnSync(path.join(REPO, 'native/build/ctspawn'), ['exec', '--pid', initPid, '--timeout', '500', '--', 'sh', '-c', 'trap "" TERM INT HUP; sleep 27 & echo started; wait'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    expect({ code: r.status, out: r.stdout.trim() }).toEqual({ code: 124, out: 'started' });
    expect(r.stderr).toMatch(/did not end within 500 ms/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(waitFor(() => !/sleep 27/.test(n.ok('exec', CT, 'ps')), 3000)).toBe(true);
  });

  it('vzctl stop is not locked out by a set that a trojaned hostname would hold up', async () => {
    n.ok('exec', CT, 'sh', '-c', 'printf "#!/bin/sh\\nexec sleep 30\\n" > /usr/local/sbin/hostname');
    const set = spawn(VZCTL, ['set', CT, '--hostname', 'after2'], { env: n.env, stdio: 'ignore' });
    const setDone = new Promise<number | null>((resolve) => set.on('exit', (code) => resolve(code)));
    try {
      sleep(1000);
      const stop = n.vzctl('stop', CT, '--fast');
      expect({ code: stop.code, err: stop.stderr }).toEqual({ code: 0, err: '' });
      expect(n.ok('status', CT)).toMatch(/down/);
    } finally {
      set.kill('SIGKILL');
      await setDone;
    }
  });
});
