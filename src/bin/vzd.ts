import { vzdMain } from '../cli/vzd.js';
vzdMain(process.argv.slice(2)).then((code) => process.exit(code));
