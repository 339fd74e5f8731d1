// `npm start`: the README's main job. Builds the real extension package (Bun runtime, simulated
// OMS bundle), then plays its whole life on a simulated VM the way the Azure guest agent drives it, and
// prints what the portal would show after every step. Everything happens in temp dirs; the simulated VM's
// is kept so its logs can be read afterwards.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { buildPackage } from "./package.ts";
import { runLifecycle, type StepRecord } from "../simulator/lifecycle.ts";
import { createSimulatedVm } from "../simulator/vm.ts";
import { makeTempDir } from "../simulator/system-root.ts";

const A = "1.19.0";
const B = "1.19.1";

function printStep(step: StepRecord, index: number, total: number): void {
  console.log(`\n[${index}/${total}] ${step.title}`);
  for (const command of step.commands) {
    const exit = command.timedOut ? "timed out" : `exit ${command.exitCode}`;
    console.log(`      guest agent ran ${command.version} ${command.operation.padEnd(9)} ${exit.padEnd(8)} ${(command.durationMs / 1000).toFixed(2)} s`);
  }
  if (step.commands.length === 0) console.log("      (nothing to run)");
  if (!step.status) {
    console.log("      Portal: the extension is gone from the VM's extension list");
    return;
  }
  const status = step.status;
  console.log(`      Portal: ${status.operation ?? "?"} — ${status.status} (code ${status.code}), handler ${step.handlerStatus?.status ?? "?"}`);
  console.log(`              ${status.message}`);
  for (const sub of status.substatus) console.log(`              · ${sub.name}: ${sub.message}`);
}

async function main(): Promise<void> {
  const work = makeTempDir("omsagent-demo-");
  console.log("Building the extension packages (with the Bun runtime npm ci installed from the npm registry)…");
  const packages = [];
  for (const version of [A, B]) {
    const built = await buildPackage({ version, outDir: join(work, "packages") });
    console.log(`  ${built.zipPath} (${(built.zipSize / 1e6).toFixed(1)} MB, ${(built.unpackedSize / 1e6).toFixed(1)} MB unpacked)`);
    packages.push(built);
  }
  const vm = await createSimulatedVm({ versions: [], keep: true });
  console.log(`\nSimulated VM: ${vm.dir}`);
  console.log(`  guest agent lib dir  ${vm.agent.libDir}`);
  console.log(`  system root          ${vm.root}  (fake omsadmin.sh, service_control, /etc/opt/microsoft/omsagent)`);
  const total = 7;
  let index = 0;
  const steps = await runLifecycle(
    vm,
    { from: { version: A, source: { zip: packages[0]!.zipPath } }, to: { version: B, source: { zip: packages[1]!.zipPath } } },
    (step) => printStep(step, ++index, total),
  );
  await vm.metadata?.close();
  // The zips are 45 MB each and rebuilt on every run; the VM (logs, status, events) is kept to look at.
  rmSync(work, { recursive: true, force: true });
  const failed = steps.filter((step) => !step.ok || step.status?.status === "error");
  console.log(`\nLogs: ${join(vm.agent.logDir(), "extension.log")}`);
  console.log(`Telemetry events: ${vm.agent.eventsDir()}`);
  console.log(`Simulated tool calls: ${join(vm.root, ".omssim", "calls.log")}`);
  console.log(`(remove ${vm.dir} when done)`);
  console.log(failed.length === 0 ? `\nAll ${steps.length} steps succeeded.` : `\n${failed.length} step(s) failed: ${failed.map((s) => s.title).join("; ")}`);
  process.exitCode = failed.length === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
