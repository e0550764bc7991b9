import { vzlistMain } from '../cli/vzlist.js';
vzlistMain(process.argv.slice(2)).then((code) => process.exit(code));
