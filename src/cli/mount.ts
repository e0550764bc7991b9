import { ctidVerb } from './verb.js';

export const mount = ctidVerb('mount', "Mount a container's private area on its root mount point", async (svc, ctid) => {
  await svc.mount(ctid);
  return { mounted: true };
});

export const umount = ctidVerb('umount', "Unmount a stopped container's root", async (svc, ctid) => {
  await svc.umount(ctid);
  return { mounted: false };
});
