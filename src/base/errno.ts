import os from 'node:os';

export function errnoName(errno: number): string {
  for (const [k, v] of Object.entries(os.constants.errno)) if (v === errno) return k;
  return `errno ${errno}`;
}
