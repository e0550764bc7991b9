import { DirDriver } from './dir.js';
import { ImageDriver } from './image.js';
import type { StorageDriver } from './types.js';
import { VzError } from '../base/errors.js';

export function getStorageDriver(name = 'dir'): StorageDriver {
  if (name === 'dir') return new DirDriver();
  if (name === 'image') return new ImageDriver();
  throw new VzError('INVALID', `unknown storage layout "${name}"`);
}
export type { StorageDriver, StorageTarget, StorageCaps, CreateOptions, CompactResult, DiskUsage } from './types.js';
