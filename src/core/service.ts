/**
 * ContainerService: the one object the CLI verbs talk to. Each operation lives in core/ops/ as a
 * small module; this class only binds them to a Context. Backups and migrations (src/backup,
 * migrate/) sit above core and work over these operations; the CLI calls them directly.
 */
import { Context, type Progress, type Status } from './context.js';
import { resolveCtid } from './resolve.js';
import { createContainer, type CreateRequest } from './ops/create.js';
import { startContainer, type StartOptions } from './ops/start.js';
import { waitBooted } from './ops/wait.js';
import { stopContainer, type StopOptions } from './ops/stop.js';
import { destroyContainer } from './ops/destroy.js';
import { mountContainer, umountContainer } from './ops/mount.js';
import { containerDetails, containerStatus, listContainers } from './ops/status.js';
import { execInContainer, enterContainer, consoleContainer } from './ops/exec.js';
import { setParams } from './ops/set.js';
import type { RawParams } from '../config/params.js';
import { restartContainer } from './ops/restart.js';
import { buildTemplate, listTemplates, removeTemplate } from './ops/template.js';
import { compactDisk, diskQuota } from './disk.js';
import { withLock } from './lock.js';
import { requireContainer } from './resolve.js';
import { checkSuspend, suspendContainer } from './ops/suspend.js';
import { resumeContainer, type ResumeOptions } from './ops/resume.js';

export class ContainerService {
  readonly ctx: Context;

  constructor(opts: { progress?: Progress; status?: Status; ctx?: Context } = {}) {
    this.ctx = opts.ctx ?? new Context({ progress: opts.progress, status: opts.status });
  }

  resolve(arg: string): number {
    return resolveCtid(this.ctx, arg);
  }
  /** resolve(), and the container must exist (exit 14 otherwise). */
  resolveExisting(arg: string): number {
    return requireContainer(this.ctx, resolveCtid(this.ctx, arg)).ctid;
  }
  templates() {
    return listTemplates(this.ctx);
  }
  buildTemplate(name: string, rebuild: boolean) {
    return buildTemplate(this.ctx, name, rebuild);
  }
  removeTemplate(name: string) {
    return removeTemplate(this.ctx, name);
  }
  create(req: CreateRequest) {
    return createContainer(this.ctx, req);
  }
  start(ctid: number, opts?: StartOptions) {
    return startContainer(this.ctx, ctid, opts);
  }
  waitBooted(ctid: number, timeoutMs: number) {
    return waitBooted(this.ctx, ctid, timeoutMs);
  }
  stop(ctid: number, opts?: StopOptions) {
    return stopContainer(this.ctx, ctid, opts);
  }
  restart(ctid: number, opts?: StopOptions) {
    return restartContainer(this.ctx, ctid, opts);
  }
  destroy(ctid: number) {
    return destroyContainer(this.ctx, ctid);
  }
  mount(ctid: number) {
    return mountContainer(this.ctx, ctid);
  }
  umount(ctid: number) {
    return umountContainer(this.ctx, ctid);
  }
  status(ctid: number) {
    return containerStatus(this.ctx, ctid);
  }
  list() {
    return listContainers(this.ctx);
  }
  details(ctid: number) {
    return containerDetails(this.ctx, ctid);
  }
  exec(ctid: number, argv: string[]) {
    return execInContainer(this.ctx, ctid, argv);
  }
  enter(ctid: number) {
    return enterContainer(this.ctx, ctid);
  }
  console(ctid: number) {
    return consoleContainer(this.ctx, ctid);
  }
  set(ctid: number, raw: RawParams, save: boolean) {
    return setParams(this.ctx, ctid, raw, save);
  }
  quota(ctid: number) {
    requireContainer(this.ctx, ctid);
    return diskQuota(this.ctx, ctid);
  }
  compact(ctid: number) {
    requireContainer(this.ctx, ctid);
    return withLock(this.ctx, ctid, () => compactDisk(this.ctx, ctid));
  }
  checkSuspend(ctid: number) {
    return checkSuspend(this.ctx, ctid);
  }
  suspend(ctid: number, dumpDir?: string) {
    return suspendContainer(this.ctx, ctid, { dumpDir });
  }
  resume(ctid: number, opts?: ResumeOptions) {
    return resumeContainer(this.ctx, ctid, opts);
  }
  close(): void {
    this.ctx.close();
  }
}
