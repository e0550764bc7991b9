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
const missing = [];
for (const f of files) {
  if (!fs.existsSync(f)) {
    missing.push(f);
    continue;
  }
  const report = JSON.parse(fs.readFileSync(f, 'utf8'));
  for (const file of report.testResults ?? []) {
    const rel = path.relative(REPO, file.name);
    if (!rel.startsWith('test/integration/')) continue;
    for (const t of file.assertionResults ?? []) {
      const id = `${rel} > ${t.fullName}`;
      if (!seen.has(id)) seen.set(id, []);
      seen.get(id).push(t.status);
    }
  }
}

const ran = [...seen].filter(([, s]) => s.some((x) => x === 'passed' || x === 'failed'));
const failed = ran.filter(([, s]) => s.includes('failed'));
const never = [...seen].filter(([, s]) => !s.some((x) => x === 'passed' || x === 'failed'));
console.log(`real-kernel tests: ${ran.length} ran (${ran.length - failed.length} passed, ${failed.length} failed), ${never.length} ran nowhere`);
for (const [id] of never) console.log(`  ran nowhere: ${id}`);
for (const f of missing) console.log(`  no report: ${f}`);
if (require_ && (never.length || missing.length)) {
  console.log('VZKIT_REQUIRE_ALL=1: a real-kernel test that ran nowhere fails the run');
  process.exit(1);
}
