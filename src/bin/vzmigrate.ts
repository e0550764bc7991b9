import { vzmigrateMain } from '../cli/vzmigrate.js';
vzmigrateMain(process.argv.slice(2)).then((code) => process.exit(code));
