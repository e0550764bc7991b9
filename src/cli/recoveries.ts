/**
 * The journal kinds of operations that can be killed half way, registered with core's recovery
 * registry (src/core/recovery.ts) in every command, so any locked operation finishes what a
 * killed vzmigrate or vzdump left, whichever command it is.
 */
import '../../migrate/journal.js';
import '../backup/journal.js';
