#!/usr/bin/env node
// usage: node test/gate.mjs RESULTS.json...
// The last step of `npm test`: reads the JSON reports of both halves (the host suite, then
// test/vm/tests.sh's serial half) and counts the real-kernel tests (test/integration/) by what
// happened to each across the halves. A test that skips in one half and runs in the other (the VM
// and Debian tests) ran. With VZKIT_REQUIRE_ALL=1 (CI's .ci/run sets it) a real-kernel test that
// ran nowhere, or a report that is missing, fails the run: a green run cannot come from skipping.
import fs from 'node:fs';
import path from 'node:path';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require_ = process.env.VZKIT_REQUIRE_ALL === '1';
const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node test/gate.mjs RESULTS.json...');
  process.exit(2);
}

/** test id ("file > full name") -> the statuses it had, one per report that listed it. */
const seen = new Map();
/** file -> report name -> how many of its tests ran there (passed or failed). */
const perFile = new Map();
const missing = [];
/** Tests that skipped inside the v2 VM: a file is put in V2_FILES to run there whole, so a skip there is a gap. */
const skippedInV2 = [];
const label = (f) => path.basename(f, '.json');
for (const f of files) {
  if (!fs.existsSync(f)) {
    missing.push(f);
    continue;
  }
  const report = JSON.parse(fs.readFileSync(f, 'utf8'));
  for (const file of report.testResults ?? []) {
    const rel = path.relative(REPO, file.name);
    if (!rel.startsWith('test/integration/')) continue;
    if (!perFile.has(rel)) perFile.set(rel, new Map());
    for (const t of file.assertionResults ?? []) {
      const id = `${rel} > ${t.fullName}`;
      if (!seen.has(id)) seen.set(id, []);
      seen.get(id).push(t.status);
      if (t.status === 'passed' || t.status === 'failed') perFile.get(rel).set(label(f), (perFile.get(rel).get(label(f)) ?? 0) + 1);
      else if (label(f) === 'v2') skippedInV2.push(id);
    }
  }
}

const ran = [...seen].filter(([, s]) => s.some((x) => x === 'passed' || x === 'failed'));
const failed = ran.filter(([, s]) => s.includes('failed'));
const never = [...seen].filter(([, s]) => !s.some((x) => x === 'passed' || x === 'failed'));
// Where each file's tests ran: one column per report (host: the v1 host, serial: the Debian and
// VM-driving files, v2: the files run inside the cgroup v2 VM).
const cols = files.filter((f) => !missing.includes(f)).map(label);
const w = Math.max(4, ...[...perFile.keys()].map((k) => k.length));
console.log(`${'file'.padEnd(w)}  ${cols.map((c) => c.padStart(6)).join(' ')}`);
for (const [rel, m] of [...perFile].sort()) console.log(`${rel.padEnd(w)}  ${cols.map((c) => String(m.get(c) ?? '-').padStart(6)).join(' ')}`);
console.log(`real-kernel tests: ${ran.length} ran (${ran.length - failed.length} passed, ${failed.length} failed), ${never.length} ran nowhere`);
for (const [id] of never) console.log(`  ran nowhere: ${id}`);
for (const f of missing) console.log(`  no report: ${f}`);
if (skippedInV2.length) console.log(`skipped inside the v2 VM: ${skippedInV2.length}`);
for (const id of skippedInV2) console.log(`  skipped in v2: ${id}`);
if (require_ && (never.length || missing.length || skippedInV2.length)) {
  console.log('VZKIT_REQUIRE_ALL=1: a real-kernel test that ran nowhere, or skipped inside the v2 VM, fails the run');
  process.exit(1);
}
