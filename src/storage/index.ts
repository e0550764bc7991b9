import { DirDriver } from './dir.js';
import type { StorageDriver } from './types.js';
import { VzError } from '../core/errors.js';

export function getStorageDriver(name = 'dir'): StorageDriver {
  if (name === 'dir') return new DirDriver();
  throw new VzError('INVALID', `unknown storage layout "${name}"`);
}
export type { StorageDriver, StorageTarget } from './types.js';
