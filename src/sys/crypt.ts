/**
 * Password hashes for /etc/shadow through libxcrypt (koffi), the library Debian's own passwd and
 * chpasswd use: yescrypt ("$y$", Debian 12's default) with a salt from the kernel's random pool.
 */
import { createRequire } from 'node:module';
import { VzError } from '../base/errors.js';

type CryptFn = (phrase: string, setting: string) => string | null;
type GensaltFn = (prefix: string, count: number, rbytes: null, nrbytes: number) => string | null;

let lib: { crypt: CryptFn; gensalt: GensaltFn } | undefined;

function load(): { crypt: CryptFn; gensalt: GensaltFn } {
  if (lib) return lib;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi');
  let so;
  try {
    so = koffi.load('libcrypt.so.1');
  } catch (e) {
    throw new VzError('SYSTEM', `cannot load libcrypt.so.1: ${(e as Error).message}`, { hint: 'apt-get install libcrypt1' });
  }
  lib = {
    crypt: so.func('const char *crypt(const char *phrase, const char *setting)'),
    gensalt: so.func('const char *crypt_gensalt(const char *prefix, unsigned long count, const void *rbytes, int nrbytes)'),
  };
  return lib;
}

/** A hash of `password` for /etc/shadow (yescrypt). */
export function hashPassword(password: string): string {
  const { crypt, gensalt } = load();
  const salt = gensalt('$y$', 0, null, 0);
  if (!salt) throw new VzError('SYSTEM', 'crypt_gensalt failed');
  const hash = crypt(password, salt);
  // libxcrypt returns "*0"/"*1" (never NULL) on failure.
  if (!hash || hash.startsWith('*')) throw new VzError('SYSTEM', 'crypt failed to hash the password');
  return hash;
}

/** Whether `password` matches `hash` (for the tests and for a quick check). */
export function checkPassword(password: string, hash: string): boolean {
  const out = load().crypt(password, hash);
  return out === hash;
}
