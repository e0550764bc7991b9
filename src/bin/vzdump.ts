import { vzdumpMain } from '../cli/vzdump.js';
vzdumpMain(process.argv.slice(2)).then((code) => process.exit(code));
