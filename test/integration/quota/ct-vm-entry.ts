/** Entry point of the container disk-limit checks inside the test VM (bundled by dir-layout.test.ts). */
import { runCtScenario } from './ct-scenario.js';
import type { QuotaFs } from '../../../quota/project.js';

const kinds = process.argv.slice(2) as QuotaFs[];
// The image layout's online grow is file-system independent: checked once, on the ext4 node.
const reports = kinds.map((k) => runCtScenario(k, k === 'ext4'));
process.stdout.write(`CT-REPORT ${JSON.stringify(reports)}\n`);
