import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cipherPreference, splitSshOptions } from '../../../migrate/ssh.js';

describe('ssh options', () => {
  it('AES-GCM first only where the CPU has AES instructions (x86 flags, arm Features)', () => {
    expect(cipherPreference('flags\t\t: fpu vme sse2 aes avx2\n')).toEqual(['-o', 'Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com']);
    expect(cipherPreference('Features\t: fp asimd aes pmull sha1\n')).toHaveLength(2);
    expect(cipherPreference('flags\t\t: fpu vme sse2 avx2 vaes_x\n')).toEqual([]);
    expect(cipherPreference('')).toEqual([]);
  });

  it("the user's --ssh cipher wins over the preference (ssh keeps the first value)", () => {
    const args = [...splitSshOptions('-c chacha20-poly1305@openssh.com'), ...cipherPreference('flags : aes\n')];
    const r = spawnSync('ssh', ['-G', ...args, 'example.invalid'], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^ciphers chacha20-poly1305@openssh.com$/m);
    const mine = spawnSync('ssh', ['-G', ...cipherPreference('flags : aes\n'), 'example.invalid'], { encoding: 'utf8' });
    expect(mine.stdout).toMatch(/^ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,/m);
  });
});
