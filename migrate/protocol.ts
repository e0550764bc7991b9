/**
 * The SSH protocol between the source (migrate.ts and its stages) and DEST (receive.ts):
 * `vzmigrate --receive VERB CTID` on DEST reads one JSON request on stdin and prints one JSON
 * line, `{"ok":true,...reply}` or `{"ok":false,"exit":N,"error":"..."}`. Each verb's request and
 * reply is typed here once (Verbs), and the reply line is written (answerLine, refusalLine) and
 * read (parseAnswer, expectAnswer) only here.
 */
import { StageFailure } from './errors.js';
import type { RemoteResult } from './ssh.js';
import type { RunProof } from './proof.js';

/** Fault injection for the tests, sent along with a request (receive.ts sets the switch). */
export interface Inject {
  inject_restore_fail?: boolean;
  inject_start_fail?: boolean;
}

/** What the source asks before anything is made on DEST. */
export interface InfoRequest {
  ctid: number;
  ips: string[];
  bytes: number;
  uidBase: number;
  uidSize: number;
  online: boolean;
  params: Record<string, unknown>;
  /** base64 of the source's `criu cpuinfo dump` image (online). */
  cpuinfo?: string;
  /** A private area left by an earlier --keep-dst run may be reused. */
  reuse?: boolean;
  /** Nested namespace kinds in use inside (online; migrate/criu.ts nestedKindsInUse): DEST's CRIU must restore them. */
  nested?: string[];
  /** Online: it intercepts sysinfo(2), so DEST's CRIU must give the listener back (as resume requires). */
  sysinfo?: boolean;
  /** Pressure files open inside (online; migrate/criu.ts pressureFilesInUse): DEST's CRIU must set PSI triggers again. */
  psi?: boolean;
  /** The private area is a directory (its ownership can be shifted offline). */
  isDir?: boolean;
  /** The files can go into any slot DEST gives: online, the source copies them through an
   * idmapped view; offline (an image too), DEST shifts them. */
  anySlot?: boolean;
}

/** One reason DEST cannot take the container, with its exit code. */
export interface Problem {
  exit: number;
  msg: string;
}

export interface InfoReply {
  version: string;
  node: string;
  /** DEST's CRIU version, null when it has none (or it was not asked: offline). */
  criu: string | null;
  privatePath: string;
  dumpDir: string;
  problems: Problem[];
  /** DEST moves a dump's user namespace to its own range (older DESTs do not say so). */
  rebase?: boolean;
}

export interface RegisterRequest {
  ctid: number;
  name: string | null;
  ostemplate: string;
  profile: string | null;
  params: Record<string, unknown>;
  uidBase: number;
  isDir: boolean;
  reuse?: boolean;
  /** Online: the dump's user namespace maps these host uids, so DEST must use the same range. */
  sameUids: boolean;
}

export interface RegisterReply {
  privatePath: string;
  dumpDir: string;
  uidBase: number;
}

/** Online, image layout: DEST makes and mounts an empty image of this shape (receive-image.ts). */
export interface MountImageRequest {
  sizeBytes: number;
  inodes: number;
}

export interface MountImageReply {
  mountPath: string;
}

export interface UnmountImageReply {
  unmounted: boolean;
}

export interface PageServerRequest {
  port: number;
}

export interface PageServerReply {
  port: number;
}

/**
 * The restore's session is opened before the freeze; only `go: true` restores (EOF or `{}`:
 * cancelled). The images besides the pages travel in the request.
 */
export interface RestoreRequest {
  go?: boolean;
  images?: Record<string, string>;
  /** Tasks dumped here. */
  tasks?: number;
}

/** One of DEST's steps, in ms from its receipt of the request (shown under vzmigrate -t). */
export interface DestStep {
  name: string;
  ms: number;
}

export interface RestoreReply {
  initPid?: number;
  monitorPid?: number;
  proof?: Partial<RunProof>;
  steps?: DestStep[];
  /** The request was not `go`: nothing was restored. */
  cancelled?: boolean;
}

export interface StartRequest {
  /** Start it (a running source), or only make it a stopped container of DEST's. */
  run: boolean;
  /** The uid base its files have (the source's): DEST shifts them when its own differs. */
  fromBase: number;
}

export interface StartReply {
  initPid?: number;
  proof?: Partial<RunProof>;
}

export type ResolveRequest = Record<string, never>;

export interface ResolveReply {
  exists: boolean;
  running: boolean;
  proof?: Partial<RunProof>;
}

export interface AbortRequest {
  /** --keep-dst: the private area stays for a later run. */
  keepPrivate: boolean;
}

export interface AbortReply {
  removed: boolean;
}

/** Every verb with its request and its reply. */
export interface Verbs {
  info: { request: InfoRequest; reply: InfoReply };
  register: { request: RegisterRequest; reply: RegisterReply };
  'mount-image': { request: MountImageRequest; reply: MountImageReply };
  'unmount-image': { request: Record<string, never>; reply: UnmountImageReply };
  'page-server': { request: PageServerRequest; reply: PageServerReply };
  restore: { request: RestoreRequest; reply: RestoreReply };
  start: { request: StartRequest; reply: StartReply };
  resolve: { request: ResolveRequest; reply: ResolveReply };
  abort: { request: AbortRequest; reply: AbortReply };
}

export type Verb = keyof Verbs;
export type Request<V extends Verb> = Verbs[V]['request'] & Inject;
export type Reply<V extends Verb> = Verbs[V]['reply'];

/** DEST's refusal: the exit code the source exits with, and why. */
export interface Refusal {
  ok: false;
  exit?: number;
  error: string;
}

export type Answer<V extends Verb> = ({ ok: true } & Reply<V>) | Refusal;

/** The command the source runs on DEST over SSH. */
export function receiveArgv(remote: string, verb: Verb, ctid: number): string[] {
  return [remote, '--receive', verb, String(ctid)];
}

/** DEST's answer line (receive.ts). */
export function answerLine<V extends Verb>(reply: Reply<V>): string {
  return JSON.stringify({ ok: true, ...reply }) + '\n';
}

/** DEST's refusal line (receive.ts). */
export function refusalLine(exit: number, error: string): string {
  return JSON.stringify({ ok: false, exit, error }) + '\n';
}

/**
 * DEST's answer in a session's output: its last line, when that is a whole JSON object with a
 * boolean `ok`; undefined when there is none (the line was cut, DEST never answered).
 */
export function parseAnswer<V extends Verb>(stdout: string): Answer<V> | undefined {
  let reply: unknown;
  try {
    reply = JSON.parse(stdout.trim().split('\n').pop() ?? '');
  } catch {
    return undefined;
  }
  if (typeof reply !== 'object' || reply === null || typeof (reply as { ok?: unknown }).ok !== 'boolean') return undefined;
  return reply as Answer<V>;
}

/** No reply from DEST at all (as opposed to its refusal): what it did is unknown. */
export class NoAnswer extends StageFailure {}

/** DEST said no: its exit code (else exitOnFail) and its error. */
export class Refused extends StageFailure {}

/**
 * The reply of a finished session, or NoAnswer (with what ssh said) or Refused (DEST's exit
 * code and error).
 */
export function expectAnswer<V extends Verb>(verb: V, r: RemoteResult, exitOnFail: number): Reply<V> {
  const reply = parseAnswer<V>(r.stdout);
  if (!reply) throw new NoAnswer(exitOnFail, `DEST: ${verb}: ${(r.stderr || r.stdout).trim() || `ssh exited ${r.code}`}`);
  if (!reply.ok) throw new Refused(reply.exit ?? exitOnFail, `DEST: ${reply.error}`);
  return reply;
}

