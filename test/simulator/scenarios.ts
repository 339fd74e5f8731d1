// The one list of injectable fault scenarios of the simulated OMS toolchain and their exact output.
// toolchain.test.ts runs every entry at every fault point of its tool and compares code, stdout and
// stderr exactly; the scenario table in simulator/README.md is rendered from this list
// (node --import tsx test/simulator/render-readme-table.ts) and the test checks it is current.
import { BUNDLE_FAULT_POINTS, OMSADMIN_FAULT_POINTS, SERVICE_CONTROL_COMMANDS } from "../../simulator/oms/sim.ts";

/** A stdout line, or `{ err }` for a stderr line. Placeholders are listed in PLACEHOLDERS. */
export type Line = string | { err: string };

export type Tool = "bundle" | "omsadmin" | "service_control";

export interface FaultScenario {
  tool: Tool;
  scenario: string;
  code: number;
  out: Line[];
  /** What real situation it reproduces (README column). */
  what: string;
}

export const PLACEHOLDERS: Record<string, string> = {
  "<bundle>": "the bundle path as invoked ($0)",
  "<op>": "upgrade / install / remove / purge (from the fault point)",
  "<Op>": "Upgrade / Install / Remove / Purge",
  "<pkgverb>": "Upgrading at bundle-upgrade, else Installing",
  "<ws>": "service_control's workspace argument, or all when none was given",
  "<command>": "the service_control command",
  "<procedure>":
    "disable_omsagent_service, enable_omsagent_service, start_omsagent, stop_omsagent, restart_omsagent (restart, reload), is-running_omsagent, find-systemd-dir_omsagent",
  "<id>": "the workspace id omsadmin.sh was given (-w or the onboard file)",
  "<omsadmin usage>": "omsadmin.sh's usage text (19 lines, starting with an empty line)",
  "<service_control usage>": "service_control's usage text (13 lines)",
  "\\t": "a TAB character",
};

export const FAULT_POINTS: Record<Tool, readonly string[]> = {
  bundle: BUNDLE_FAULT_POINTS,
  omsadmin: OMSADMIN_FAULT_POINTS,
  service_control: SERVICE_CONTROL_COMMANDS.map((c) => `service_control-${c}`),
};

const OMS = "omsagent-0.0.0-sim.universal.x64";
const DSC = "omsconfig-1.2.0-0.universal.x64";
const OMI = "omi-1.7.1-0.ssl_110.ulinux.x64";
const SCX = "scx-1.7.1-0.ssl_110.universal.x64";
const pkg = (name: string, file: string) => `----- <pkgverb> package: ${name} (${file}) -----`;
const FORCE_HINT = [
  "You can run this shell bundle with --force; in this case, we will install omsagent,",
  "but omsconfig (DSC configuration) will not be available and will need to be re-installed.",
];
const e = (err: string): Line => ({ err });
const T = "\t";
const KEY_403 = "Check the Workspace ID, Workspace Key and that the time of the system is correct.";

const bundle: Omit<FaultScenario, "tool">[] = [
  { scenario: "exit:0", code: 0, out: [], what: "success without doing anything" },
  { scenario: "exit:2", code: 2, out: [e("<bundle>: Conflicting qualifiers, exiting")], what: "INVALID_OPTION_PROVIDED" },
  { scenario: "exit:3", code: 3, out: [e("<bundle>: No options specified, specify --help for help")], what: "NO_OPTION_PROVIDED" },
  { scenario: "exit:4", code: 4, out: ["This kit is intended for RPM systems and cannot install on DPKG systems"], what: "INVALID_PACKAGE_TYPE" },
  { scenario: "exit:5", code: 5, out: [e("Must have root privileges to be able to perform <op> operation")], what: "RUN_AS_ROOT" },
  { scenario: "exit:6", code: 6, out: ["Checking host architecture ...", `Cannot install ${OMS} on x86 platform`], what: "INVALID_PACKAGE_ARCH" },
  {
    scenario: "exit:17",
    code: 17,
    out: [pkg("omsagent", OMS), `${OMS} package failed to <op> and exited with status 1`],
    what: "OMS_INSTALL_FAILED, no recognisable cause",
  },
  {
    scenario: "17-dependencies",
    code: 17,
    out: [
      pkg("omsagent", OMS),
      "error: Failed dependencies:",
      `${T}libssl.so.1.1()(64bit) is needed by omsagent-0.0.0-sim.x86_64`,
      `${T}libcrypto.so.1.1()(64bit) is needed by omsagent-0.0.0-sim.x86_64`,
      `${OMS} package failed to <op> and exited with status 1`,
    ],
    what: "rpm missing dependencies",
  },
  {
    scenario: "17-dpkg-lock",
    code: 17,
    out: [pkg("omsagent", OMS), "dpkg: error: dpkg frontend lock is locked by another process", `${OMS} package failed to <op> and exited with status 2`],
    what: "dpkg lock held by another process",
  },
  {
    scenario: "17-rpm-lock",
    code: 17,
    out: [
      pkg("omsagent", OMS),
      "warning: waiting for transaction lock on /var/lib/rpm/.rpm.lock",
      "error: can't create transaction lock on /var/lib/rpm/.rpm.lock (Resource temporarily unavailable)",
      `${OMS} package failed to <op> and exited with status 1`,
    ],
    what: "rpm transaction lock held",
  },
  {
    scenario: "17-oom",
    code: 17,
    out: [
      pkg("omsagent", OMS),
      "error: unpacking of archive failed on file /opt/microsoft/omsagent/ruby/lib/libruby.so.2.6.0: cpio: write failed - Cannot allocate memory",
      `${OMS} package failed to <op> and exited with status 1`,
    ],
    what: "out of memory while unpacking",
  },
  {
    scenario: "17-triggers",
    code: 17,
    out: [
      pkg("omsagent", OMS),
      "Processing triggers for systemd (245.4-4ubuntu3.22) ...",
      "Errors were encountered while processing:",
      " omsagent",
      `${OMS} package failed to <op> and exited with status 1`,
    ],
    what: "systemd trigger processing failed",
  },
  {
    scenario: "permission-denied",
    code: 17,
    out: [
      pkg("omsagent", OMS),
      "mkdir: cannot create directory '/opt/microsoft/omsagent/plugin': Permission denied",
      `${OMS} package failed to <op> and exited with status 1`,
    ],
    what: "Permission denied during package install",
  },
  {
    scenario: "exit:18",
    code: 18,
    out: [pkg("omsconfig", DSC), `${DSC} package failed to <op> and exited with status 1`],
    what: "DSC_INSTALL_FAILED (omsconfig)",
  },
  {
    scenario: "exit:19",
    code: 19,
    out: [pkg("omi", OMI), "OMI server failed to start due to OMI installation failed and exited with status 1", "<Op> failed"],
    what: "OMI_INSTALL_FAILED",
  },
  {
    scenario: "19-dpkg-lock",
    code: 19,
    out: [
      pkg("omi", OMI),
      "dpkg: error: dpkg frontend lock is locked by another process",
      "OMI server failed to start due to OMI installation failed and exited with status 1",
      "<Op> failed",
    ],
    what: "OMI install hit the dpkg lock",
  },
  {
    scenario: "19-rpmdb",
    code: 19,
    out: [
      pkg("omi", OMI),
      "error: rpmdb: BDB0113 Thread/process 2862/140090478405696 failed: BDB1507 Thread died in Berkeley DB library",
      "error: db5 error(-30973) from dbenv->failchk: BDB0087 DB_RUNRECOVERY: Fatal error, run database recovery",
      "error: cannot open Packages index using db5 -  (-30973)",
      "error: cannot open Packages database in /var/lib/rpm",
      `${OMI} package failed to install and exited with status 1`,
      "<Op> failed",
    ],
    what: "corrupt rpm database",
  },
  {
    scenario: "19-dependencies",
    code: 19,
    out: [
      pkg("omi", OMI),
      "dpkg: dependency problems prevent configuration of omi:",
      " omi depends on libpam-runtime; however:",
      "  Package libpam-runtime is not installed.",
      `${OMI} package failed to install and exited with status 1`,
      "<Op> failed",
    ],
    what: "OMI dependency missing (dpkg)",
  },
  {
    scenario: "exit:20",
    code: 20,
    out: [pkg("scx", SCX), `${SCX} package failed to install and exited with status 1`, "<Op> failed"],
    what: "SCX_INSTALL_FAILED",
  },
  {
    scenario: "exit:21",
    code: 21,
    out: ["----- Updating bundled packages -----", "docker provider package failed to <op> and exited with status 1"],
    what: "SCX_KITS_INSTALL_FAILED (provider kit)",
  },
  {
    scenario: "exit:22",
    code: 22,
    out: ["----- Updating bundled packages -----", "auoms package failed to <op> and exited with status 1"],
    what: "BUNDLED_INSTALL_FAILED (auoms)",
  },
  {
    scenario: "exit:23",
    code: 23,
    out: [e("The omi or scx package is already installed. Please run the"), e("installer with --upgrade (instead of --install) to continue.")],
    what: "USE_UPGRADE (--install over omi/scx)",
  },
  { scenario: "exit:30", code: 30, out: [e("INTERNAL ERROR: Incorrect number of parameters passed to check_version_installable")], what: "INTERNAL_ERROR" },
  {
    scenario: "exit:52",
    code: 52,
    out: [pkg("omi", OMI), "OMI server failed to start due to System Issue with daemon control tool  and exited with status 2", "<Op> failed"],
    what: "DEPENDENCY_MISSING: omi reload status 2",
  },
  {
    scenario: "52-omi-conf",
    code: 52,
    out: [pkg("omi", OMI), "OMI server failed to start due to omi server conf file missing and exited with status 3", "<Op> failed"],
    what: "DEPENDENCY_MISSING: omi reload status 3",
  },
  {
    scenario: "52-dpkg-lock",
    code: 52,
    out: [
      `----- Installing package: omi (${OMI}) -----`,
      "dpkg: error: dpkg frontend lock is locked by another process",
      `${OMI} package failed to install and exited with status 2`,
      "<Op> failed",
    ],
    what: "remove_and_install: dpkg exit 2 (lock)",
  },
  {
    scenario: "52-disk",
    code: 52,
    out: [`----- Installing package: omi (${OMI}) -----`, `${OMI} package failed to install and exited with status 52`, "<Op> failed"],
    what: "insufficient disk space for a package",
  },
  {
    scenario: "55-openssl",
    code: 55,
    out: [
      pkg("omi", OMI),
      "Error: This system does not have a supported version of OpenSSL installed.",
      "This system's OpenSSL version: 3.0.2",
      "Supported versions: 1.0.1 onward (1.0.0 was deprecated), 1.1.*",
    ],
    what: "UNSUPPORTED_OPENSSL (also exit:55)",
  },
  {
    scenario: "exit:55",
    code: 55,
    out: [
      pkg("omi", OMI),
      "Error: This system does not have a supported version of OpenSSL installed.",
      "This system's OpenSSL version: 3.0.2",
      "Supported versions: 1.0.1 onward (1.0.0 was deprecated), 1.1.*",
    ],
    what: "same as 55-openssl",
  },
  {
    scenario: "55-curl",
    code: 55,
    out: [
      "Checking host architecture ...",
      "curl was not found; attempting to install curl...",
      "E: Unable to locate package curl",
      "Error: curl was not installed, installation cannot continue.",
      ...FORCE_HINT,
    ],
    what: "INSTALL_CURL (curl missing, not installable)",
  },
  {
    scenario: "60-python",
    code: 60,
    out: [
      "Checking host architecture ...",
      e("Error: Python is not installed on this system, installation cannot continue."),
      e("Please install either the python2 or python3 package."),
      ...FORCE_HINT.map(e),
    ],
    what: "INSTALL_PYTHON (also exit:60)",
  },
  {
    scenario: "exit:60",
    code: 60,
    out: [
      "Checking host architecture ...",
      e("Error: Python is not installed on this system, installation cannot continue."),
      e("Please install either the python2 or python3 package."),
      ...FORCE_HINT.map(e),
    ],
    what: "same as 60-python",
  },
  {
    scenario: "60-openssl",
    code: 60,
    out: [
      pkg("omi", OMI),
      "Error: This system does not have a supported version of OpenSSL installed.",
      "This system's OpenSSL version: 1.1.1f",
      "Supported versions: 0.9.8*, 1.0.*",
    ],
    what: "old bundles: UNSUPPORTED_OPENSSL was 60",
  },
  {
    scenario: "exit:61",
    code: 61,
    out: [
      "Checking host architecture ...",
      e("Error: Python is not configured or Python does not support ctypes on this system, installation cannot continue."),
      e("Please install the ctypes package (python-ctypes)or upgrade Python to a newer version of python that comes with the ctypes module."),
      e("You can check if the ctypes module is installed by starting python and running the command: 'import ctypes'."),
      ...FORCE_HINT.map(e),
    ],
    what: "INSTALL_PYTHON_CTYPES",
  },
  {
    scenario: "exit:62",
    code: 62,
    out: [
      "Checking host architecture ...",
      "tar was not found; attempting to install tar...",
      "tar was not installed, installation cannot continue. Please install tar.",
    ],
    what: "INSTALL_TAR",
  },
  {
    scenario: "62-extract",
    code: 62,
    out: ["Extracting...", "Failed: could not extract the install bundle. Exit code: 127", "Please make sure that tar is installed."],
    what: "INSTALL_TAR: tar extraction returned 127",
  },
  {
    scenario: "exit:63",
    code: 63,
    out: [
      "Checking host architecture ...",
      "sed was not found; attempting to install sed...",
      "sed was not installed, installation cannot continue. Please install sed.",
    ],
    what: "INSTALL_SED",
  },
  { scenario: "exit:65", code: 65, out: ["Checking host architecture ...", "gpg is not installed, installation cannot continue."], what: "INSTALL_GPG" },
  {
    scenario: "exit:66",
    code: 66,
    out: [e("Error: This system does not have a supported package manager"), e("Supported Sytems: 'DPKG' & 'RPM'")],
    what: "UNSUPPORTED_PKG_INSTALLER",
  },
  { scenario: "127", code: 127, out: [e("<bundle>: 1: getconf: not found")], what: "shell: command not found (also exit:127)" },
  { scenario: "exit:127", code: 127, out: [e("<bundle>: 1: getconf: not found")], what: "same as 127" },
  {
    scenario: "exit:1",
    code: 1,
    out: ["Extracting...", "Failed: could not extract the install bundle."],
    what: "any other exit:N: a failed tar extraction with status N",
  },
];

const METACONFIG = "/opt/microsoft/omsconfig/Scripts/python3/OMS_MetaConfigHelper.py";
const OMSCONFIG_LOG = "For more details check logs in /var/opt/microsoft/omsconfig/omsconfig.log";
const METACONFIG_FAILED = `Configuring omsconfig and generating metaconfig failed with error code 1. ${OMSCONFIG_LOG}`;
const TRACEBACK: Line[] = [
  e("Traceback (most recent call last):"),
  e(`  File "${METACONFIG}", line 52, in <module>`),
  e("    main(sys.argv[1:])"),
  e("PermissionError: [Errno 13] Permission denied: '/etc/opt/omi/conf/omsconfig/configuration/Pending.mof'"),
];

const omsadmin: Omit<FaultScenario, "tool">[] = [
  { scenario: "exit:0", code: 0, out: [], what: "success without doing anything" },
  {
    scenario: "0-already-onboarded",
    code: 0,
    out: ["Workspace <id> already onboarded and agent is running."],
    what: "onboarding skipped: the agent claims to be running (a workspace without omsadmin.conf counts as running)",
  },
  { scenario: "exit:1", code: 1, out: [`-e error${T}This script must be run as root or as the omsagent user.`], what: "not root" },
  { scenario: "exit:2", code: 2, out: [`-e error${T}Parsing error: 'unexpected' is unparsed`, "<omsadmin usage>"], what: "INVALID_OPTION_PROVIDED" },
  { scenario: "exit:3", code: 3, out: [`-e error${T}Missing Workspace ID or Shared Key information for onboarding`], what: "INVALID_CONFIG_PROVIDED" },
  { scenario: "3-guid", code: 3, out: [`-e error${T}The Workspace ID is not valid`], what: "INVALID_CONFIG_PROVIDED: bad GUID" },
  {
    scenario: "exit:4",
    code: 4,
    out: [`-e error${T}Proxy could not be resolved during the onboarding request: curl returned 5. Verify the proxy.`],
    what: "INVALID_PROXY (curl 5 through the proxy)",
  },
  {
    scenario: "4-connect",
    code: 4,
    out: [`-e error${T}Error connecting to OMS service through proxy: curl returned 7. Verify the proxy.`],
    what: "INVALID_PROXY (curl 7 through the proxy)",
  },
  {
    scenario: "5-key",
    code: 5,
    out: [`-e error${T}Error onboarding. HTTP code 403, Reason: InvalidWorkspaceKey. ${KEY_403}`],
    what: "403: wrong workspace key (also exit:5)",
  },
  {
    scenario: "exit:5",
    code: 5,
    out: [`-e error${T}Error onboarding. HTTP code 403, Reason: InvalidWorkspaceKey. ${KEY_403}`],
    what: "same as 5-key",
  },
  {
    scenario: "5-missing-header",
    code: 5,
    out: [`-e error${T}Error onboarding. HTTP code 403, Reason: MissingHeader. ${KEY_403}`],
    what: "403: MissingHeader",
  },
  {
    scenario: "5-clock",
    code: 5,
    out: [`-e error${T}Error onboarding. HTTP code 403, Reason: . ${KEY_403}`],
    what: "403 with an empty reason (clock skew)",
  },
  { scenario: "exit:6", code: 6, out: [`-e error${T}Error onboarding. HTTP code 500`], what: "ERROR_ONBOARDING_NON_200_HTTP" },
  { scenario: "6-503", code: 6, out: [`-e error${T}Error onboarding. HTTP code 503`], what: "service unavailable" },
  {
    scenario: "exit:7",
    code: 7,
    out: [
      `-e error${T}Error resolving host during the onboarding request. Check the correctness of the workspace ID and the internet connectivity, or add a proxy.`,
    ],
    what: "ERROR_RESOLVING_HOST (no network / DNS)",
  },
  {
    scenario: "exit:8",
    code: 8,
    out: [
      `-e error${T}Error during the onboarding request: curl returned 35. Check the internet connectivity and the correctness of the workspace ID and shared key or run omsadmin.sh with '-v'`,
    ],
    what: "ERROR_ONBOARDING (other curl error)",
  },
  { scenario: "exit:30", code: 30, out: [`-e error${T}Error generating certs: missing config`], what: "INTERNAL_ERROR" },
  { scenario: "exit:31", code: 31, out: [`-e error${T}Error generating agent GUID`], what: "RUBY_ERROR_GENERATING_GUID" },
  { scenario: "exit:32", code: 32, out: [`-e error${T}Error generating certs`], what: "ERROR_GENERATING_CERTS" },
  {
    scenario: "exit:33",
    code: 33,
    out: [...TRACEBACK, `-e info${T}Retrying configuring omsconfig by calling '${METACONFIG}' with 'sudo'`, ...TRACEBACK, `-e error${T}${METACONFIG_FAILED}`],
    what: "ERROR_GENERATING_METACONFIG, after the workspace was onboarded and its agent started (the helper's traceback happens to say Permission denied)",
  },
  {
    scenario: "33-permission",
    code: 33,
    out: [
      e(`-su: line 1: ${METACONFIG}: Permission denied`),
      `-e info${T}Retrying configuring omsconfig by calling '${METACONFIG}' with 'sudo'`,
      e(`sudo: unable to execute ${METACONFIG}: Permission denied`),
      `-e error${T}${METACONFIG_FAILED}`,
    ],
    what: "metaconfig: su and sudo cannot execute the helper (after onboarding)",
  },
  {
    scenario: "exit:34",
    code: 34,
    out: [`-e error${T}MetaConfig generation script not available at ${METACONFIG}. ${OMSCONFIG_LOG}`],
    what: "ERROR_METACONFIG_PY_NOT_PRESENT (after onboarding)",
  },
  {
    scenario: "exit:60",
    code: 60,
    out: [e("Error: Python is not installed on this system, onboarding cannot continue."), e("Please install either the python2 or python3 package.")],
    what: "INSTALL_PYTHON",
  },
  { scenario: "exit:9", code: 9, out: [], what: "any other exit:N: silent exit N" },
];

const SC_FAIL = "ERROR:  <procedure> failed with result '1' on workspace <ws>.";
const serviceControl: Omit<FaultScenario, "tool">[] = [
  { scenario: "exit:0", code: 0, out: [], what: "success without doing anything (is-running: not running)" },
  { scenario: "exit:1", code: 1, out: [e(SC_FAIL)], what: "1 failed workspace (is-running: running, no output)" },
  { scenario: "exit:2", code: 2, out: [e(SC_FAIL), e(SC_FAIL)], what: "any other exit:N: N failed workspaces (is-running: no output)" },
  {
    scenario: "exit:21",
    code: 21,
    out: [e("ERROR:  OMS Admin configuration file /etc/opt/microsoft/omsagent/<ws>/conf/omsadmin.conf NOT Found!")],
    what: "FILE_NOT_FOUND",
  },
  {
    scenario: "exit:22",
    code: 22,
    out: [
      e("rm: cannot remove '/var/opt/microsoft/omsagent/<ws>/run/omsagent.pid': Operation not permitted"),
      e("ERROR:  <procedure> failed with result '22' on workspace <ws>."),
    ],
    what: "FILE_NOT_GONE",
  },
  {
    scenario: "exit:30",
    code: 30,
    out: ["INTERNAL ERROR:  service_control notification_exit routine NOT USED Correctly.", "Exiting with code 30"],
    what: "INTERNAL_ERROR",
  },
  {
    scenario: "exit:67",
    code: 67,
    out: [e("ERROR:  Unrecognized service controller to <command> OMS Agent service"), "service_control exiting with code 67"],
    what: "ERROR_OS_FACILITY_NOT_PRESENT",
  },
  { scenario: "exit:68", code: 68, out: ["ERROR:  'Q' is not a known ps flag.", "service_control exiting with code 68"], what: "ERROR_UNEXPECTED_SYSTEM_INFO" },
  {
    scenario: "exit:69",
    code: 69,
    out: ["Defunct State Seen in omsagent process.", e("ERROR:  <procedure> failed with result '69' on workspace <ws>.")],
    what: "ERROR_UNEXPECTED_STATE",
  },
  {
    scenario: "exit:72",
    code: 72,
    out: [e("Unknown parameter : '<command>'"), "<service_control usage>", "service_control exiting with code 72"],
    what: "INVALID_OPTION_PROVIDED",
  },
  {
    scenario: "exit:75",
    code: 75,
    out: [e("Unknown parameter : ''"), "<service_control usage>", "service_control exiting with code 75"],
    what: "NO_OPTION_PROVIDED",
  },
  {
    scenario: "exit:77",
    code: 77,
    out: [e("Must have root privileges for this operation"), "service_control exiting with code 77"],
    what: "RUN_AS_ROOT",
  },
  {
    scenario: "permission-denied",
    code: 1,
    out: [e("rm: cannot remove '/etc/init.d/omsagent-<ws>': Permission denied"), e(SC_FAIL)],
    what: "Permission denied unregistering the service",
  },
];

export const SCENARIOS: FaultScenario[] = [
  ...bundle.map((s) => ({ tool: "bundle" as const, ...s })),
  ...omsadmin.map((s) => ({ tool: "omsadmin" as const, ...s })),
  ...serviceControl.map((s) => ({ tool: "service_control" as const, ...s })),
];

/** The first line a "hang" scenario prints before blocking. */
export const HANG_LINES: Record<Tool, string> = {
  bundle: "Extracting...",
  omsadmin: "Configure syslog...",
  service_control: "INFO:  Configuring OMS agent service <ws> ...",
};

export const BUNDLE_TRAILER = [
  "\u001b[0;31mWARNING: The Log Analytics agent (OMS) is on a deprecation path and is not supported after August 31, 2024. Migrate to the Azure Monitor Agent: https://learn.microsoft.com/azure/azure-monitor/agents/azure-monitor-agent-migration\u001b[0m",
  "OMS agent shell bundle exiting with status code <code>",
];

// ------------------------------------------------------------------ README rendering

function mdLine(line: Line): string {
  const text = typeof line === "string" ? line : line.err;
  const shown = "`" + text.replace(/\t/g, "\\t").replace(/\|/g, "\\|") + "`";
  return typeof line === "string" ? shown : `(stderr) ${shown}`;
}

export const TABLE_START = "<!-- scenario-table:start (generated from test/simulator/scenarios.ts; do not edit by hand) -->";
export const TABLE_END = "<!-- scenario-table:end -->";

export function renderScenarioTable(): string {
  const rows: string[] = [TABLE_START, ""];
  for (const tool of ["bundle", "omsadmin", "service_control"] as const) {
    rows.push(`#### ${tool}: fault points ${FAULT_POINTS[tool].map((p) => "`" + p + "`").join(", ")}`);
    rows.push("");
    rows.push("| Scenario | Exit | Reproduces | Output (stdout unless marked) |");
    rows.push("|---|---|---|---|");
    for (const s of SCENARIOS.filter((x) => x.tool === tool)) {
      const out = s.out.length === 0 ? "(nothing)" : s.out.map(mdLine).join("<br>");
      rows.push(`| \`${s.scenario}\` | ${s.code} | ${s.what} | ${out} |`);
    }
    rows.push(`| \`hang\` | – | blocks until killed | ${mdLine(HANG_LINES[tool])}, then a child \`sleep 3600\` |`);
    rows.push(`| \`slow:<seconds>\` | as normal | a slow tool | nothing extra: sleeps, then behaves normally |`);
    rows.push("");
  }
  rows.push(TABLE_END);
  return rows.join("\n");
}
