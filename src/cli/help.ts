// `omsagent-fleet <command> --help`: the parts of the usage text that apply to that command, cut from the one
// USAGE in args.ts so the two never disagree.
import { USAGE, type Command } from "./args.ts";
import packageJson from "../../cli/package.json" with { type: "json" };

/** The CLI's own version: its npm package's (cli/package.json, which a test holds equal to the repository's). */
export const CLI_VERSION: string = (packageJson as { version: string }).version;

const SECTIONS: Record<Command, RegExp[]> = {
  validate: [/^Exit status/],
  plan: [/^Targets are/, /^Selection from/, /^Deploy and plan options/, /^Fleet options/, /^Azure connection/, /^Exit status/],
  deploy: [/^Targets are/, /^Selection from/, /^Deploy and plan options/, /^Deploy only/, /^Fleet options/, /^Azure connection/, /^Exit status/],
  status: [/^Targets are/, /^Selection from/, /^Fleet options/, /^Azure connection/, /^Exit status/],
  remove: [/^Targets are/, /^Selection from/, /^Fleet options/, /^Azure connection/, /^Exit status/],
  diagnose: [/^Targets are/, /^Selection from/, /^Diagnose/, /^Fleet options/, /^Azure connection/, /^Exit status/],
};

export function commandHelp(command: Command): string {
  const sections = USAGE.trimEnd().split("\n\n");
  const usage = (sections[1] ?? "")
    .split("\n")
    .filter((line) => line.startsWith(`  omsagent-fleet ${command} `))
    .join("\n");
  const parts = [`Usage:\n${usage}`];
  for (const pattern of SECTIONS[command]) parts.push(...sections.filter((s) => pattern.test(s)));
  if (command === "validate")
    parts.splice(
      1,
      0,
      'Checks settings offline against the handler\'s schemas, every problem at once. --settings may also be one\ndocument {"settings": {…}, "protectedSettings": {…}} (an ARM template\'s extension properties): both parts are checked.',
    );
  return parts.join("\n\n");
}
