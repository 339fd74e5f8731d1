// The fake Azure guest agent, as tests, the demo and the benchmark use it. agent.ts holds the agent itself (the
// handler's layout, package install, settings and the operation sequences); launch.ts how it runs one command;
// status.ts how it reads the status file; contract.ts the names, codes and shapes they share.
export * from "./contract.ts";
export { FakeGuestAgent } from "./agent.ts";
export { decodeBackslashReplace, formatStdoutStderr } from "./output.ts";
export { PyFloat, pyJsonDumps } from "./python-json.ts";
export type { AgentExtensionStatus, AgentSubstatus } from "./status.ts";
