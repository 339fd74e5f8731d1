// Entry of the packaged CLI (the `omsagent-fleet` bin). Unlike main.ts it does not compare its own URL with
// argv[1]: npm starts bins through a symlink in node_modules/.bin, so the two never match.
import { main } from "./main.ts";

void main();
