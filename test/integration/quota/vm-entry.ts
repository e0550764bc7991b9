/**
 * Entry point of the quota checks inside the test VM (bundled by project.test.ts): runs the
 * scenario for each file system named on the command line and prints one JSON line.
 */
import { runScenario } from './scenario.js';
import type { QuotaFs } from '../../../quota/project.js';

const kinds = process.argv.slice(2) as QuotaFs[];
const reports = kinds.map((k) => runScenario(k));
process.stdout.write(`QUOTA-REPORT ${JSON.stringify(reports)}\n`);
