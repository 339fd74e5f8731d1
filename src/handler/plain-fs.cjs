// Stands in for graceful-fs in the bundle (scripts/build.mjs): proper-lockfile gets Node's own fs.
module.exports = require("node:fs");
