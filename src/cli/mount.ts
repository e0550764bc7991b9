import type { Verb } from './verb.js';

export const mount: Verb = {
  command: 'mount <ctid>',
  describe: "Mount a container's private area on its root mount point",
  builder: (y) => y.positional('ctid', { type: 'string' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    await svc.mount(ctid);
    out.result({ ctid, mounted: true });
    return 0;
  },
};

export const umount: Verb = {
  command: 'umount <ctid>',
  describe: "Unmount a stopped container's root",
  builder: (y) => y.positional('ctid', { type: 'string' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    await svc.umount(ctid);
    out.result({ ctid, mounted: false });
    return 0;
  },
};
