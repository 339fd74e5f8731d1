// Rewrites the scenario table in simulator/README.md from test/simulator/scenarios.ts.
//   node --import tsx test/simulator/render-readme-table.ts
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderScenarioTable, TABLE_END, TABLE_START } from "./scenarios.ts";

const readme = join(dirname(fileURLToPath(import.meta.url)), "../../simulator/README.md");
const text = readFileSync(readme, "utf8");
const start = text.indexOf(TABLE_START);
const end = text.indexOf(TABLE_END);
if (start < 0 || end < start) throw new Error(`${readme}: table markers not found`);
writeFileSync(readme, text.slice(0, start) + renderScenarioTable() + text.slice(end + TABLE_END.length));
console.log(`updated ${readme}`);
