// The two compiled settings validators. Here ajv compiles the schemas when the module loads, which is what the
// fleet CLI and the tests get; the handler's bundle replaces this module with the same validators compiled at
// build time (scripts/settings-validators.mjs: ajv's standalone code, same schemas, same options), so a handler
// run neither loads ajv's compiler nor compiles anything (a 270 KB chunk and tens of ms per run that validates).
// The schemas are ours and checked against the JSON Schema meta-schema by the tests; not re-checking them
// here saves compiling the meta-schema as well.
import { Ajv } from "ajv";
import options from "./ajv-options.json" with { type: "json" };
import publicSchema from "../../schemas/public-settings.schema.json" with { type: "json" };
import protectedSchema from "../../schemas/protected-settings.schema.json" with { type: "json" };

const ajv = new Ajv(options);
export const validatePublic = ajv.compile(publicSchema);
export const validateProtected = ajv.compile(protectedSchema);
