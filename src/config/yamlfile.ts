/**
 * YAML reading for every YAML file vzkit reads (global config, OS templates, profiles, a
 * backup's vzdump.yaml). js-yaml 5 has no per-node position callback, so we parse once into its
 * event stream, record the line of every mapping key from the events' source offsets, and build
 * the value from the same events. Errors then always read `file:line: reason`.
 *
 * Limits, because some of these files come from elsewhere (an archive is anyone's): the text's
 * size, the nesting depth, the number of aliases, and the size of the document with every alias
 * expanded. js-yaml shares an aliased node instead of copying it, so a "billion laughs" document
 * loads in milliseconds; it is whoever walks or serialises the value afterwards that would run
 * for minutes at gigabytes. The expanded size is counted from the events, before construction.
 */
import { readFileSync, statSync } from 'node:fs';
import { EVENT_ID, YAMLException, constructFromEvents, getScalarValue, parseEvents } from 'js-yaml';
import type { Event } from 'js-yaml';
import { VzError } from '../base/errors.js';
import type { ErrorCodeName } from '../base/errors.js';

export interface YamlDoc {
  file: string;
  data: Record<string, unknown>;
  /** 1-based line of a key; nested keys are dot-joined ('idmap.base'), sequence items by index ('init.0'). */
  lineOf(keyPath: string): number | undefined;
}

export interface LoadYamlOptions {
  /** Code for a file that is missing or unreadable: NOCONFIG for the global config, TEMPLATE_NOT_FOUND for templates. */
  missing?: ErrorCodeName;
}

export interface YamlLimits {
  /** Bytes of YAML text. */
  maxBytes: number;
  /** Nesting depth of collections. */
  maxDepth: number;
  /** Alias nodes (`*name`) in the document. */
  maxAliases: number;
  /** Nodes (scalars and collections) with every alias expanded. */
  maxNodes: number;
}

/** Far above any config or manifest vzkit writes (a few KiB, no aliases), far below harm. */
export const YAML_LIMITS: YamlLimits = { maxBytes: 1024 * 1024, maxDepth: 64, maxAliases: 1000, maxNodes: 100_000 };

export function loadYamlFile(path: string, opts: LoadYamlOptions = {}): YamlDoc {
  let text: string;
  try {
    const st = statSync(path);
    // Not read at all when too big (or not a file: a FIFO would block the read).
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
    if (st.size > YAML_LIMITS.maxBytes) throw new VzError('INVALID_CONFIG', `${path}: larger than ${YAML_LIMITS.maxBytes} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof VzError) throw e;
    const errno = (e as NodeJS.ErrnoException).code;
    const why = errno === 'ENOENT' || errno === 'ENOTDIR' ? 'no such file' : `cannot read it (${errno ?? String(e)})`;
    throw new VzError(opts.missing ?? 'NOCONFIG', `${path}: ${why}`, { cause: e });
  }
  return parseYaml(text, path);
}

export function parseYaml(text: string, path: string, limits: YamlLimits = YAML_LIMITS): YamlDoc {
  const fail1 = (reason: string) => new VzError('INVALID_CONFIG', `${path}: ${reason}`);
  if (Buffer.byteLength(text, 'utf8') > limits.maxBytes) throw fail1(`larger than ${limits.maxBytes} bytes`);
  const lineAt = lineIndex(text);
  const fail = (line: number, reason: string, cause?: unknown) =>
    new VzError('INVALID_CONFIG', `${path}:${line}: ${reason}`, { cause });
  let events: Event[];
  let docs: unknown[];
  let lines: ReturnType<typeof keyLines>;
  try {
    events = parseEvents(text, { filename: path, maxDepth: limits.maxDepth });
    checkExpandedSize(events, text, limits, (reason) => fail1(reason));
    lines = keyLines(events, text, lineAt);
    // js-yaml would reject these too, but pointing at the enclosing mapping; we know the key's line.
    if (lines.complexKeyLine !== undefined) throw fail(lines.complexKeyLine, 'a mapping key must be a plain value, not a list or mapping');
    docs = constructFromEvents(events, { source: text, filename: path, maxAliases: limits.maxAliases });
  } catch (e) {
    if (e instanceof YAMLException) throw fail(e.mark?.line === undefined ? 1 : e.mark.line + 1, e.reason, e);
    throw e;
  }
  if (docs.length > 1) {
    throw fail(lines.docLines[1] ?? 1, `expected one YAML document, found ${docs.length}`);
  }
  // An empty file (or one with only comments) is an empty config, not an error.
  const data = docs.length === 0 || docs[0] === null ? {} : docs[0];
  if (typeof data !== 'object' || Array.isArray(data) || data instanceof Map || data instanceof Set) {
    throw fail(lines.docLines[0] ?? 1, 'the top level must be a mapping of keys');
  }
  return { file: path, data: data as Record<string, unknown>, lineOf: (k) => lines.byPath.get(k) };
}

/**
 * Counts the nodes of each document as if every alias were replaced by a copy of its anchor's
 * node (an anchor's size is known once its node is closed), and refuses the text past
 * `maxNodes` or `maxAliases`: linear in the number of events, whatever the aliases multiply.
 */
function checkExpandedSize(events: Event[], text: string, limits: YamlLimits, fail: (reason: string) => Error): void {
  const anchors = new Map<string, number>();
  const stack: Array<{ size: number; anchor?: string }> = [];
  let total = 0;
  let aliases = 0;
  const name = (start: number, end: number) => text.slice(start, end).replace(/^[&*]/, '');
  const add = (n: number) => {
    const top = stack[stack.length - 1];
    if (top) top.size += n;
    else total += n;
    if (total + stack.reduce((s, f) => s + f.size, 0) > limits.maxNodes) {
      throw fail(`more than ${limits.maxNodes} values once its aliases are expanded (an alias bomb?)`);
    }
  };
  for (const ev of events) {
    switch (ev.type) {
      case EVENT_ID.DOCUMENT:
        stack.length = 0;
        break;
      case EVENT_ID.SCALAR:
        if (ev.anchorStart >= 0) anchors.set(name(ev.anchorStart, ev.anchorEnd), 1);
        add(1);
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        stack.push({ size: 1, anchor: ev.anchorStart >= 0 ? name(ev.anchorStart, ev.anchorEnd) : undefined });
        break;
      case EVENT_ID.ALIAS:
        if (++aliases > limits.maxAliases) throw fail(`more than ${limits.maxAliases} aliases`);
        add(anchors.get(name(ev.anchorStart, ev.anchorEnd)) ?? 1);
        break;
      case EVENT_ID.POP: {
        const f = stack.pop();
        if (!f) break; // the document's own POP
        if (f.anchor !== undefined) anchors.set(f.anchor, f.size);
        add(f.size);
        break;
      }
    }
  }
}

/** Maps a source offset to its 1-based line number. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

function startOf(ev: Event): number {
  switch (ev.type) {
    case EVENT_ID.SCALAR:
      return firstSet(ev.anchorStart, ev.tagStart, ev.valueStart);
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return firstSet(ev.anchorStart, ev.tagStart, ev.start);
    case EVENT_ID.ALIAS:
      return ev.anchorStart;
    default:
      return -1;
  }
}

function firstSet(...offsets: number[]): number {
  const set = offsets.filter((o) => o >= 0);
  return set.length ? Math.min(...set) : -1;
}

interface Frame {
  kind: 'map' | 'seq';
  path: string;
  index: number; // seq: next item index; map: count of nodes seen (even = key, odd = value)
  key: string; // map: the key whose value comes next
}

/** Walks the event stream once, recording the line of every key (and of each document's root). */
function keyLines(events: Event[], text: string, lineAt: (o: number) => number) {
  const byPath = new Map<string, number>();
  const docLines: number[] = [];
  const stack: Frame[] = [];
  let complexKeyLine: number | undefined;
  const record = (path: string, offset: number) => {
    if (offset >= 0 && !byPath.has(path)) byPath.set(path, lineAt(offset));
  };
  const join = (base: string, k: string) => (base === '' ? k : `${base}.${k}`);

  for (const ev of events) {
    if (ev.type === EVENT_ID.DOCUMENT) {
      stack.length = 0;
      docLines.push(-1);
      continue;
    }
    if (ev.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    // A node: find the path it occupies; its children (if it is a collection) live under that path.
    const top = stack[stack.length - 1];
    let path = '';
    if (top === undefined) {
      if (docLines[docLines.length - 1] === -1) docLines[docLines.length - 1] = lineAt(Math.max(0, startOf(ev)));
    } else if (top.kind === 'seq') {
      path = join(top.path, String(top.index++));
      record(path, startOf(ev));
    } else if (top.index++ % 2 === 0) {
      // A key node. Only scalar keys have a name (aliases as keys are left to js-yaml).
      if (ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE) {
        complexKeyLine ??= lineAt(Math.max(0, startOf(ev)));
        path = '?';
      } else {
        top.key = ev.type === EVENT_ID.SCALAR ? getScalarValue(text, ev) : '*';
        record(join(top.path, top.key), startOf(ev));
        continue;
      }
    } else {
      path = join(top.path, top.key);
    }
    if (ev.type === EVENT_ID.MAPPING) stack.push({ kind: 'map', path, index: 0, key: '' });
    else if (ev.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', path, index: 0, key: '' });
  }
  if (!byPath.has('') && docLines[0] !== undefined && docLines[0] > 0) byPath.set('', docLines[0]);
  return { byPath, docLines, complexKeyLine };
}
