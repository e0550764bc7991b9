/**
 * Builds the busybox OS template from the host's Debian busybox-static: one static binary, its
 * applet links, and a minimal /etc with an inittab for busybox init (SIGUSR1 halts it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../sys/childproc.js';
import { VzError } from '../base/errors.js';

const BUSYBOX = '/bin/busybox';

const INITTAB = `# vzkit busybox container
::sysinit:/etc/init.d/rcS
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
`;

const RCS = `#!/bin/sh
# Runs once at boot (busybox init's sysinit action).
[ -x /etc/rc.local ] && /etc/rc.local
exit 0
`;

export function buildBusybox(dest: string): void {
  if (!isStaticBusybox()) {
    throw new VzError('BAD_TEMPLATE', `${BUSYBOX} is missing or not static`, {
      hint: 'apt-get install busybox-static (npm run setup does it)',
    });
  }
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/init.d', 'proc', 'sys', 'dev', 'run', 'var/log', 'home']) {
    fs.mkdirSync(path.join(dest, d), { recursive: true, mode: 0o755 });
  }
  fs.mkdirSync(path.join(dest, 'root'), { mode: 0o700 });
  fs.mkdirSync(path.join(dest, 'tmp'));
  fs.chmodSync(path.join(dest, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(dest, 'bin/busybox'));
  fs.chmodSync(path.join(dest, 'bin/busybox'), 0o755);
  const applets = childProcess().execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const rel of applets) {
    const link = path.join(dest, rel);
    if (rel === 'bin/busybox' || fs.existsSync(link)) continue;
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/bin/busybox', link);
  }
  const files: Array<[string, string, number]> = [
    ['etc/inittab', INITTAB, 0o644],
    ['etc/init.d/rcS', RCS, 0o755],
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n', 0o644],
    ['etc/group', 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n', 0o644],
    ['etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o600],
    ['etc/hostname', 'localhost\n', 0o644],
    ['etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost\n', 0o644],
    ['etc/fstab', '', 0o644],
    ['etc/profile', 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1="\\h:\\w\\$ "\n', 0o644],
  ];
  for (const [rel, content, mode] of files) {
    fs.writeFileSync(path.join(dest, rel), content, { mode });
    fs.chmodSync(path.join(dest, rel), mode);
  }
}

function isStaticBusybox(): boolean {
  try {
    const head = Buffer.alloc(4);
    const fd = fs.openSync(BUSYBOX, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    // A static binary has no PT_INTERP; `ldd` is the simplest honest check.
    if (head.toString('latin1') !== '\x7fELF') return false;
    const out = childProcess().execFileSync('ldd', [BUSYBOX], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /not a dynamic executable|statically linked/.test(out);
  } catch (e) {
    // ldd exits 1 for static binaries on Debian and prints "not a dynamic executable".
    const err = e as { stdout?: string; stderr?: string };
    return /not a dynamic executable|statically linked/.test(`${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}
