import assert from "node:assert/strict";
import { test } from "node:test";
import { Ajv } from "ajv";
import publicSchema from "../schemas/public-settings.schema.json" with { type: "json" };
import protectedSchema from "../schemas/protected-settings.schema.json" with { type: "json" };

test("the published settings schemas are valid draft-07 JSON Schemas under ajv's strict mode", () => {
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
  for (const schema of [publicSchema, protectedSchema]) {
    assert.ok(ajv.validateSchema(schema), JSON.stringify(ajv.errors));
    ajv.compile(schema);
  }
});
