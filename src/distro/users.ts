/**
 * Users and SSH keys inside a container (vzctl's --userpasswd, and --ssh-key): /etc/passwd,
 * /etc/group and /etc/shadow edited from the host as chpasswd/useradd would, the home directory
 * and ~/.ssh/authorized_keys. Every access goes through rootwrite (openat2 RESOLVE_IN_ROOT, regular
 * files only, size-capped, replaced atomically), so nothing the container planted (a symlink to a
 * host file, a FIFO, a huge file) can redirect, hang or bloat the command.
 */
import fs from 'node:fs';
import { VzError } from '../base/errors.js';
import { openInRoot, readFileInRoot, removeFileInRoot, writeFileInRoot } from '../sys/rootwrite.js';

const O_PATH = 0o10000000;
import { hashPassword } from '../sys/crypt.js';

const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const KEY_RE = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/;

export interface UserPasswd {
  user: string;
  password: string;
}

/** USER:PASSWORD (vzctl's form); the password may contain ':' but not a newline. */
export function parseUserPasswd(raw: unknown): UserPasswd {
  const s = typeof raw === 'string' ? raw : '';
  const i = s.indexOf(':');
  const user = i > 0 ? s.slice(0, i) : '';
  const password = i > 0 ? s.slice(i + 1) : '';
  if (!USER_RE.test(user)) throw new VzError('INVALID', `invalid userpasswd: expected USER:PASSWORD with a user name like ${USER_RE.source}`);
  if (password === '' || /[\n\r\0]/.test(password)) throw new VzError('INVALID', 'invalid userpasswd: the password is empty or has a newline');
  return { user, password };
}

export interface SshKey {
  user: string;
  key: string;
}

/** 'KEY' (for root) or 'USER:KEY'; KEY is one authorized_keys line: TYPE BASE64 [COMMENT]. */
export function parseSshKey(raw: unknown): SshKey {
  let s = typeof raw === 'string' ? raw.trim() : '';
  let user = 'root';
  const m = /^([a-z_][a-z0-9_-]{0,31}):(.*)$/s.exec(s);
  if (m && !/^(ssh|ecdsa|sk)-/.test(s)) {
    user = m[1]!;
    s = m[2]!.trim();
  }
  if (!KEY_RE.test(s)) throw new VzError('INVALID', `invalid ssh-key: expected [USER:]TYPE BASE64 [COMMENT], e.g. "ssh-ed25519 AAAA... me@host"`);
  return { user, key: s };
}

interface PwEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string): PwEntry[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

/** The first free id of a normal user (1000..59999, Debian's adduser range) in both files. */
export function nextId(passwd: string, group: string): number {
  const used = new Set<number>();
  for (const l of `${passwd}\n${group}`.split('\n')) {
    const f = l.split(':');
    if (f.length >= 3) used.add(Number(f[2]));
  }
  for (let id = 1000; id < 60000; id++) if (!used.has(id)) return id;
  throw new VzError('SYSTEM', 'no free user id in 1000..59999');
}

/** Replaces (or adds) `name`'s line in a colon file; `make(old)` builds the new line. */
export function upsertLine(text: string, name: string, make: (old: string[] | undefined) => string): string {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const i = lines.findIndex((l) => l.split(':')[0] === name);
  const line = make(i >= 0 ? lines[i]!.split(':') : undefined);
  if (i >= 0) lines[i] = line;
  else lines.push(line);
  return lines.join('\n') + '\n';
}

export interface Owner {
  /** Host uid/gid of the container's root (its uid 0). */
  uid: number;
  gid: number;
}

function days(): number {
  return Math.floor(Date.now() / 86_400_000);
}

/**
 * The edits of one --userpasswd or --ssh-key: each file is replaced atomically (rootwrite), and
 * when a later step fails the earlier ones are taken back, so the container's files are either
 * all changed or all as they were.
 */
class GuestEdit {
  private undos: Array<() => void> = [];

  constructor(private readonly root: string) {}

  /** Replaces `rel` (whose content before was `old`, undefined when missing) with `content`. */
  write(rel: string, old: string | undefined, content: string, opts: { mode: number; uid: number; gid: number }): void {
    writeFileInRoot(this.root, rel, content, opts);
    this.undos.push(() => (old === undefined ? removeFileInRoot(this.root, rel) : writeFileInRoot(this.root, rel, old)));
  }

  mkdir(parent: string, name: string, mode: number, uid: number, gid: number): void {
    let made: boolean;
    try {
      made = mkdirInRoot(this.root, parent, name, mode, uid, gid);
    } catch (e) {
      const where = `/${parent === '.' ? '' : `${parent}/`}${name}`;
      throw new VzError('SYSTEM', `${where} in the container: cannot make the directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
    }
    if (made) this.undos.push(() => rmdirInRoot(this.root, parent, name));
  }

  /** Runs `body`; on failure takes back what it did (newest first) and rethrows. */
  run<T>(body: () => T): T {
    try {
      return body();
    } catch (e) {
      for (const u of this.undos.reverse()) {
        try {
          u();
        } catch {
          // the first error is the one to report
        }
      }
      throw e;
    }
  }
}

/** A directory inside the container, made through a handle on its parent resolved in the root; true if made. */
function mkdirInRoot(root: string, parent: string, name: string, mode: number, uid: number, gid: number): boolean {
  const fd = openInRoot(root, parent, O_PATH | fs.constants.O_DIRECTORY);
  try {
    // The parent is already resolved inside the root; mkdir never follows a final symlink.
    try {
      fs.mkdirSync(`/proc/self/fd/${fd}/${name}`, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return false;
    }
  } finally {
    fs.closeSync(fd);
  }
  const dfd = openInRoot(root, `${parent}/${name}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fchownSync(dfd, uid, gid);
    fs.fchmodSync(dfd, mode);
  } finally {
    fs.closeSync(dfd);
  }
  return true;
}

function rmdirInRoot(root: string, parent: string, name: string): void {
  const fd = openInRoot(root, parent, O_PATH | fs.constants.O_DIRECTORY);
  try {
    fs.rmdirSync(`/proc/self/fd/${fd}/${name}`);
  } finally {
    fs.closeSync(fd);
  }
}

interface Files {
  passwd: string;
  group: string | undefined;
  shadow: string | undefined;
  passwdExisted: boolean;
}

/** Everything read before anything is written: a FIFO or a huge file fails the command here. */
function readFiles(root: string): Files {
  const passwd = readFileInRoot(root, 'etc/passwd');
  return { passwd: passwd ?? '', passwdExisted: passwd !== undefined, group: readFileInRoot(root, 'etc/group'), shadow: readFileInRoot(root, 'etc/shadow') };
}

/** Container root's view of a user: host uid = owner.uid + uid inside. */
function lookup(passwd: string, user: string): PwEntry | undefined {
  return parsePasswd(passwd).find((e) => e.name === user);
}

/** Creates the user (with a group of its own and a home) when missing, like useradd -m -U. */
function ensureUser(root: string, edit: GuestEdit, f: Files, user: string, owner: Owner): PwEntry {
  const found = lookup(f.passwd, user);
  if (found) return found;
  const group = f.group ?? '';
  const id = nextId(f.passwd, group);
  const shell = readFileInRoot(root, 'etc/shells')?.split('\n').includes('/bin/bash') ? '/bin/bash' : '/bin/sh';
  const entry: PwEntry = { name: user, uid: id, gid: id, home: `/home/${user}` };
  const own = { uid: owner.uid, gid: owner.gid, mode: 0o644 };
  edit.write('etc/group', f.group, upsertLine(group, user, () => `${user}:x:${id}:`), own);
  edit.write('etc/passwd', f.passwdExisted ? f.passwd : undefined, upsertLine(f.passwd, user, () => `${user}:x:${id}:${id}::${entry.home}:${shell}`), own);
  edit.mkdir('.', 'home', 0o755, owner.uid, owner.gid);
  edit.mkdir('home', user, 0o750, owner.uid + id, owner.gid + id);
  return entry;
}

/** vzctl set --userpasswd USER:PASSWORD: the user is made when missing; the hash goes to /etc/shadow. */
export function setUserPassword(root: string, up: UserPasswd, owner: Owner): void {
  const f = readFiles(root);
  const hash = hashPassword(up.password);
  const edit = new GuestEdit(root);
  edit.run(() => {
    ensureUser(root, edit, f, up.user, owner);
    const next = upsertLine(f.shadow ?? '', up.user, (old) => {
      const fields = old ?? [up.user, '', '', '0', '99999', '7', '', '', ''];
      while (fields.length < 9) fields.push('');
      fields[1] = hash;
      fields[2] = String(days());
      return fields.join(':');
    });
    // An existing shadow keeps its owner and mode (root:shadow 0640 on Debian); a new one is root's, 0600.
    edit.write('etc/shadow', f.shadow, next, { uid: owner.uid, gid: owner.gid, mode: 0o600 });
  });
}

/** vzctl set --ssh-key: appended to the user's ~/.ssh/authorized_keys unless already there. */
export function addSshKey(root: string, k: SshKey, owner: Owner): void {
  const passwd = readFileInRoot(root, 'etc/passwd') ?? '';
  const u = k.user === 'root' ? (lookup(passwd, 'root') ?? { name: 'root', uid: 0, gid: 0, home: '/root' }) : lookup(passwd, k.user);
  if (!u) throw new VzError('INVALID', `no user ${k.user} in the container: add it first with --userpasswd ${k.user}:PASSWORD`);
  const home = u.home.replace(/^\/+/, '') || '.';
  const hostUid = owner.uid + u.uid;
  const hostGid = owner.gid + u.gid;
  const rel = `${home}/.ssh/authorized_keys`;
  const edit = new GuestEdit(root);
  edit.run(() => {
    edit.mkdir(home, '.ssh', 0o700, hostUid, hostGid);
    const old = readFileInRoot(root, rel);
    if ((old ?? '').split('\n').some((l) => l.trim() === k.key)) return;
    const text = old === undefined || old === '' || old.endsWith('\n') ? (old ?? '') : `${old}\n`;
    edit.write(rel, old, `${text}${k.key}\n`, { uid: hostUid, gid: hostGid, mode: 0o600 });
  });
}
