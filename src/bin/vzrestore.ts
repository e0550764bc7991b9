import { vzrestoreMain } from '../cli/vzrestore.js';
vzrestoreMain(process.argv.slice(2)).then((code) => process.exit(code));
