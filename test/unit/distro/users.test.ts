import { describe, expect, it } from 'vitest';
import { nextId, parseSshKey, parseUserPasswd, upsertLine } from '../../../src/distro/users.js';
import { checkPassword, hashPassword } from '../../../src/sys/crypt.js';
import { vzError } from '../config/helpers.js';

describe('--userpasswd', () => {
  it('takes USER:PASSWORD; the password may hold colons', () => {
    expect(parseUserPasswd('root:s3cret')).toEqual({ user: 'root', password: 's3cret' });
    expect(parseUserPasswd('alice:a:b:c')).toEqual({ user: 'alice', password: 'a:b:c' });
  });
  it.each(['root', ':pw', 'root:', 'Bad:pw', '1x:pw', 'a b:pw', 'root:pw\nroot2:x'])('refuses %j', (raw) => {
    vzError(() => parseUserPasswd(raw), 'INVALID');
  });
  it('hashes with yescrypt and a fresh salt each time', () => {
    const a = hashPassword('pw');
    const b = hashPassword('pw');
    expect(a).toMatch(/^\$y\$/);
    expect(a).not.toBe(b);
    expect(checkPassword('pw', a)).toBe(true);
    expect(checkPassword('other', a)).toBe(false);
  });
});

describe('--ssh-key', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ7b2n7cyM0lJk3fWzRX5l8VvX1qfU1vN1nGcWn0U6f me@host';
  it('takes a key for root, or USER:KEY', () => {
    expect(parseSshKey(key)).toEqual({ user: 'root', key });
    expect(parseSshKey(`alice:${key}`)).toEqual({ user: 'alice', key });
    expect(parseSshKey('ecdsa-sha2-nistp256 AAAAE2VjZHNh')).toMatchObject({ user: 'root' });
  });
  it.each(['', 'not a key', 'ssh-ed25519', 'ssh-ed25519 AAAA\nssh-rsa BBBB', 'command="/bin/sh" ssh-ed25519 AAAA'])('refuses %j', (raw) => {
    vzError(() => parseSshKey(raw), 'INVALID');
  });
});

describe('passwd files', () => {
  it('finds the first free id from 1000 in passwd and group', () => {
    expect(nextId('root:x:0:0::/root:/bin/sh\n', 'root:x:0:\n')).toBe(1000);
    expect(nextId('a:x:1000:1000::/home/a:/bin/sh\n', 'b:x:1001:\n')).toBe(1002);
  });
  it('replaces a line by name or appends one, keeping the others', () => {
    const t = 'root:x:0:0::/root:/bin/sh\nbin:x:2:2::/bin:/usr/sbin/nologin\n';
    expect(upsertLine(t, 'bin', () => 'bin:CHANGED')).toBe('root:x:0:0::/root:/bin/sh\nbin:CHANGED\n');
    expect(upsertLine(t, 'new', (old) => `new:${old === undefined}`)).toBe(`${t}new:true\n`);
    expect(upsertLine('', 'x', () => 'x:1')).toBe('x:1\n');
  });
});
