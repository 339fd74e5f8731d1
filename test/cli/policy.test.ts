// The Azure Policy definitions in policy/: well-formed DeployIfNotExists policy, an extension that passes our
// settings schemas, and an existence condition that matches what the fleet CLI deploys.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { EXTENSION_TYPE, PUBLISHER } from "../../src/shared/identity.ts";
import { DEFAULT_TYPE_HANDLER_VERSION } from "../../src/cli/commands.ts";
import { checkProtectedSettings, checkPublicSettings } from "../../src/shared/settings-schema.ts";

type Json = Record<string, unknown>;

function load(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../../policy/${name}`, import.meta.url), "utf8")) as Json;
}

const ROLE = {
  vmContributor: "/providers/Microsoft.Authorization/roleDefinitions/9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
  logAnalyticsContributor: "/providers/Microsoft.Authorization/roleDefinitions/92aaf0da-9dab-42b6-94a3-d43ce8d16293",
};

// Least privilege, as the built-ins have it: Log Analytics Contributor may write VM and Arc extensions (and
// read the workspace key); only scale-set extensions need Virtual Machine Contributor.
const KINDS = {
  vm: {
    type: "Microsoft.Compute/virtualMachines",
    extension: "Microsoft.Compute/virtualMachines/extensions",
    roles: [ROLE.logAnalyticsContributor],
    builtin: "LogAnalyticsExtension_Linux_VM_DINE.json",
  },
  vmss: {
    type: "Microsoft.Compute/virtualMachineScaleSets",
    extension: "Microsoft.Compute/virtualMachineScaleSets/extensions",
    roles: [ROLE.vmContributor, ROLE.logAnalyticsContributor],
    builtin: "LogAnalyticsExtension_Linux_VMSS_DINE.json",
  },
  arc: {
    type: "Microsoft.HybridCompute/machines",
    extension: "Microsoft.HybridCompute/machines/extensions",
    roles: [ROLE.logAnalyticsContributor],
    builtin: "LogAnalyticsExtension_Linux_HybridVM_DINE.json",
  },
} as const;

/** Azure's built-in definitions, read in place from the shared reference data beside the repository. */
const BUILTINS = resolve(fileURLToPath(new URL("../..", import.meta.url)), "..", "shared", "data", "azure-policy-builtins");

const PARAMETER_TYPES = new Set(["String", "Array", "Object", "Boolean", "Integer", "Float", "DateTime"]);
const SAMPLE_WORKSPACE_ID = "0b6e9a0c-3c55-4b47-9d5c-58f0e2c7a1d3";
const SAMPLE_KEY = Buffer.alloc(64, 9).toString("base64");

/** Every `parameters('x')` an expression anywhere inside `value` refers to. */
function referencedParameters(value: unknown): Set<string> {
  const names = new Set<string>();
  const text = JSON.stringify(value);
  for (const m of text.matchAll(/parameters\('([^']+)'\)/g)) names.add(m[1]!);
  return names;
}

/**
 * The ARM template expressions the deployment uses, evaluated with sample values: the workspace's customerId
 * and shared key, and parameters. Anything else fails the test, so a new expression gets a look.
 */
function evaluate(value: unknown, parameters: Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluate(v, parameters));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, parameters)]));
  if (typeof value !== "string" || !/^\[.*\]$/s.test(value)) return value;
  const expression = value.slice(1, -1);
  const parameter = /^parameters\('([^']+)'\)$/.exec(expression);
  if (parameter) {
    assert.ok(parameter[1]! in parameters, `template parameter ${parameter[1]} has a value`);
    return parameters[parameter[1]!];
  }
  if (expression === "reference(parameters('logAnalytics'), '2022-10-01').customerId") return SAMPLE_WORKSPACE_ID;
  if (expression === "listKeys(parameters('logAnalytics'), '2022-10-01').primarySharedKey") return SAMPLE_KEY;
  throw new Error(`unexpected template expression ${value}`);
}

/** Azure Policy's `like`: one `*` wildcard, case-insensitive. */
function like(value: string, pattern: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
    "i",
  );
  return re.test(value);
}

/** The policy expressions these definitions use in conditions: parameters('x') and concat(parameters('x'), '…'). */
function conditionValue(value: unknown, parameters: Record<string, unknown>): unknown {
  if (typeof value !== "string" || !/^\[.*\]$/.test(value)) return value;
  const expression = value.slice(1, -1);
  const parameter = /^parameters\('([^']+)'\)$/.exec(expression);
  if (parameter) return parameters[parameter[1]!];
  const concat = /^concat\(parameters\('([^']+)'\), '([^']*)'\)$/.exec(expression);
  if (concat) return `${String(parameters[concat[1]!])}${concat[2]}`;
  throw new Error(`unexpected condition expression ${value}`);
}

/** Evaluates a policy condition (allOf, anyOf, equals, notEquals, like, in) against a resource's fields. */
function matches(condition: unknown, read: (field: string) => string | undefined, parameters: Record<string, unknown>): boolean {
  const c = condition as Record<string, unknown>;
  if (Array.isArray(c.allOf)) return c.allOf.every((x) => matches(x, read, parameters));
  if (Array.isArray(c.anyOf)) return c.anyOf.some((x) => matches(x, read, parameters));
  const value = read(String(c.field)) ?? "";
  const eq = (a: string, b: unknown): boolean => a.toLowerCase() === String(b).toLowerCase();
  if ("equals" in c) return eq(value, conditionValue(c.equals, parameters));
  if ("notEquals" in c) return !eq(value, conditionValue(c.notEquals, parameters));
  if ("like" in c) return like(value, String(conditionValue(c.like, parameters)));
  if ("in" in c) return (conditionValue(c.in, parameters) as unknown[]).some((x) => eq(value, x));
  throw new Error(`unexpected condition ${JSON.stringify(c)}`);
}

for (const [kind, expected] of Object.entries(KINDS)) {
  describe(`policy/omsagent-linux-${kind}.json`, () => {
    const definition = load(`omsagent-linux-${kind}.json`);
    const properties = definition.properties as Json;
    const parameters = properties.parameters as Record<string, { type: string; defaultValue?: unknown; allowedValues?: unknown[] }>;
    const rule = properties.policyRule as { if: Json; then: { effect: string; details: Json } };
    const details = rule.then.details as {
      type: string;
      roleDefinitionIds: string[];
      existenceCondition: { allOf: { field: string; equals?: unknown }[] };
      deployment: {
        properties: {
          mode: string;
          template: { parameters: Record<string, { type: string; defaultValue?: unknown }>; resources: Json[] };
          parameters: Record<string, { value: unknown }>;
        };
      };
    };

    test("is a well-formed DeployIfNotExists definition: mode, parameters, effect, roleDefinitionIds", () => {
      assert.equal(definition.name, `omsagent-linux-${kind}`);
      assert.equal(properties.mode, "Indexed");
      assert.equal(properties.policyType, "Custom");
      assert.equal(typeof properties.displayName, "string");
      for (const [name, p] of Object.entries(parameters)) {
        assert.ok(PARAMETER_TYPES.has(p.type), `${name}: type ${p.type}`);
        if (p.allowedValues && "defaultValue" in p) assert.ok(p.allowedValues.includes(p.defaultValue), `${name}: default is allowed`);
      }
      // Every parameter the rule refers to outside the embedded template is defined (the template has its own).
      const { deployment: _template, ...outer } = details;
      for (const name of referencedParameters({ if: rule.if, effect: rule.then.effect, details: outer }))
        assert.ok(name in parameters, `parameters('${name}') is defined`);
      assert.equal(rule.then.effect, "[parameters('effect')]");
      assert.equal(parameters.effect?.defaultValue, "DeployIfNotExists");
      assert.ok(parameters.effect?.allowedValues?.includes("Disabled"));
      assert.deepEqual((rule.if as { allOf: Json[] }).allOf[0], { field: "type", equals: expected.type });
      assert.equal(details.type, expected.extension);
      assert.deepEqual(details.roleDefinitionIds, expected.roles);
      for (const id of details.roleDefinitionIds)
        assert.match(id, /^\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      // The key is read with listKeys by the assignment's identity: the workspace parameter asks for the role.
      assert.equal((parameters.logAnalytics as unknown as { metadata: { assignPermissions: boolean } }).metadata.assignPermissions, true);
    });

    test("its existence condition matches what the fleet CLI deploys: publisher, type, version", () => {
      const condition = new Map(details.existenceCondition.allOf.filter((c) => "field" in c).map((c) => [c.field, c.equals]));
      assert.equal(condition.get(`${expected.extension}/publisher`), PUBLISHER);
      assert.equal(condition.get(`${expected.extension}/type`), EXTENSION_TYPE);
      assert.equal(parameters.typeHandlerVersion?.defaultValue, DEFAULT_TYPE_HANDLER_VERSION);
      const defaults = Object.fromEntries(Object.entries(parameters).map(([k, p]) => [k, p.defaultValue]));
      const compliant = (extension: Record<string, string>): boolean =>
        matches(details.existenceCondition, (field) => extension[field.slice(expected.extension.length + 1)], defaults);
      const installed = { type: EXTENSION_TYPE, publisher: PUBLISHER, typeHandlerVersion: "1.19", provisioningState: "Succeeded" };
      assert.ok(compliant(installed), "the version deploy sends, Succeeded");
      assert.ok(!compliant({ ...installed, typeHandlerVersion: "1.18" }), "an older version is remediated");
      assert.ok(!compliant({ ...installed, typeHandlerVersion: "1.190" }));
      if (kind === "arc") {
        // Arc reports the full installed version, and its provisioning state as the built-in checks it.
        assert.ok(compliant({ ...installed, typeHandlerVersion: "1.19.2" }), "Arc's 1.19.2 is the 1.19 deploy sent");
        assert.ok(!compliant({ ...installed, typeHandlerVersion: "1.190.2" }));
        assert.ok(!compliant({ ...installed, provisioningState: "Failed" }));
      } else {
        assert.equal(condition.get(`${expected.extension}/typeHandlerVersion`), "[parameters('typeHandlerVersion')]");
        assert.equal(condition.get(`${expected.extension}/provisioningState`), "Succeeded");
      }
    });

    test("against Azure's built-in definition: roles, targets, existence, deployment mode, versions", () => {
      const builtin = JSON.parse(readFileSync(resolve(BUILTINS, expected.builtin), "utf8")) as { properties: Json };
      const theirs = builtin.properties as {
        version: string;
        parameters: Record<string, { type: string; defaultValue?: unknown }>;
        policyRule: { if: Json; then: { details: typeof details } };
      };
      const theirDetails = theirs.policyRule.then.details;
      // Least privilege: the same roles as the built-in (role definition ids compare case-insensitively).
      assert.deepEqual(details.roleDefinitionIds.map((r) => r.toLowerCase()).sort(), theirDetails.roleDefinitionIds.map((r) => r.toLowerCase()).sort());
      assert.equal(details.type, theirDetails.type);
      // stopOnMultipleConnections as the built-in sends it ("true"), unless the assignment says otherwise.
      assert.equal(parameters.stopOnMultipleConnections?.defaultValue, true);
      const theirSettings = (theirDetails.deployment.properties.template.resources[0] as { properties: { settings: Json } }).properties.settings;
      assert.equal(theirSettings.stopOnMultipleConnections, "true");
      // "Incremental", as Resource Manager spells the deployment mode; a top-level version like the built-in's.
      assert.equal(details.deployment.properties.mode, "Incremental");
      assert.equal(theirDetails.deployment.properties.mode.toLowerCase(), "incremental");
      assert.match(String(properties.version), /^\d+\.\d+\.\d+$/);
      assert.match(theirs.version, /^\d+\.\d+\.\d+$/);
      assert.equal(properties.version, (properties.metadata as { version: string }).version);
      if (kind === "arc") {
        const provisioning = (c: Json[]): unknown => c.find((x) => String(x.field).endsWith("/provisioningState"));
        assert.deepEqual(
          provisioning(details.existenceCondition.allOf as unknown as Json[]),
          provisioning((theirDetails.existenceCondition as unknown as { allOf: Json[] }).allOf),
        );
        assert.deepEqual(rule.if, theirs.policyRule.if, "every Linux Arc machine, as the built-in");
        return;
      }
      // Only images the agent supports, as the built-in, plus image ids the assignment adds.
      const ours = parameters.listOfImageIdToInclude;
      assert.deepEqual(
        [ours?.type, ours?.defaultValue],
        [theirs.parameters.listOfImageIdToInclude?.type, theirs.parameters.listOfImageIdToInclude?.defaultValue],
      );
      const anyOf = ((rule.if as { allOf: Json[] }).allOf[1] as { anyOf: Json[] }).anyOf;
      assert.deepEqual(anyOf[0], { field: "Microsoft.Compute/imageId", in: "[parameters('listOfImageIdToInclude')]" });
      const publishers = (value: unknown): Set<string> =>
        new Set([...JSON.stringify(value).matchAll(/"field":"Microsoft\.Compute\/imagePublisher","equals":"([^"]+)"/g)].map((m) => m[1]!));
      for (const publisher of publishers(theirs.policyRule.if)) assert.ok(publishers(rule.if).has(publisher), `${publisher} images are targeted`);
      const image =
        (publisher: string, offer: string, sku: string, imageId = ""): ((field: string) => string | undefined) =>
        (field) =>
          field === "type"
            ? expected.type
            : (
                {
                  "Microsoft.Compute/imagePublisher": publisher,
                  "Microsoft.Compute/imageOffer": offer,
                  "Microsoft.Compute/imageSKU": sku,
                  "Microsoft.Compute/imageId": imageId,
                } as Record<string, string>
              )[field];
      const targeted = (read: (field: string) => string | undefined, extra: string[] = []): boolean =>
        matches(rule.if, read, { listOfImageIdToInclude: extra });
      assert.ok(targeted(image("RedHat", "RHEL", "7.9")));
      assert.ok(targeted(image("Canonical", "0001-com-ubuntu-server-focal", "20_04-lts-gen2")));
      assert.ok(targeted(image("SUSE", "sles-15-sp5", "gen2")));
      assert.ok(!targeted(image("Canonical", "ubuntu-24_04-lts", "server")), "Ubuntu 24.04: the agent does not support it (51)");
      assert.ok(!targeted(image("RedHat", "RHEL", "6.10")), "RHEL 6: glibc below 2.17 (51)");
      const own = "/subscriptions/x/resourceGroups/img/providers/Microsoft.Compute/images/contoso-rhel7";
      assert.ok(!targeted(image("", "", "", own)));
      assert.ok(targeted(image("", "", "", own), [own]), "an image id the assignment adds");
    });

    test("its deployment is a complete template whose extension passes our settings schemas, with the key from listKeys", () => {
      const deployment = details.deployment.properties;
      assert.equal(deployment.mode, "Incremental");
      const templateParameters = deployment.template.parameters;
      for (const [name, p] of Object.entries(templateParameters)) {
        if (!("defaultValue" in p)) assert.ok(name in deployment.parameters, `template parameter ${name} is supplied`);
      }
      for (const name of Object.keys(deployment.parameters)) assert.ok(name in templateParameters, `${name} is a template parameter`);
      // Values as a remediation with default policy parameters would pass them.
      const values: Record<string, unknown> = {};
      for (const [name, { value }] of Object.entries(deployment.parameters)) {
        const policyParameter = typeof value === "string" ? /^\[parameters\('([^']+)'\)\]$/.exec(value)?.[1] : undefined;
        values[name] = policyParameter
          ? (parameters[policyParameter]?.defaultValue ??
            `/subscriptions/${SAMPLE_WORKSPACE_ID}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws`)
          : `field:${String(value)}`;
      }
      assert.equal(deployment.template.resources.length, 1);
      const resource = deployment.template.resources[0] as { type: string; properties: Json };
      assert.equal(resource.type, expected.extension);
      const props = evaluate(resource.properties, values) as Json;
      assert.deepEqual(
        [props.publisher, props.type, props.typeHandlerVersion, props.autoUpgradeMinorVersion, props.enableAutomaticUpgrade],
        [PUBLISHER, EXTENSION_TYPE, DEFAULT_TYPE_HANDLER_VERSION, true, false],
      );
      const pub = checkPublicSettings(props.settings);
      assert.ok(pub.ok, JSON.stringify(pub));
      assert.deepEqual(pub.warnings, []);
      const prot = checkProtectedSettings(props.protectedSettings);
      assert.ok(prot.ok, JSON.stringify(prot));
      assert.equal((props.protectedSettings as Json).workspaceKey, SAMPLE_KEY, "the key comes from listKeys, not from a parameter");
      assert.ok(!("workspaceKey" in parameters), "no one passes the key");
    });
  });
}

describe("policy/omsagent-linux-initiative.json", () => {
  const initiative = load("omsagent-linux-initiative.json");
  const properties = initiative.properties as {
    parameters: Record<string, { type: string; defaultValue?: unknown }>;
    policyDefinitions: { policyDefinitionReferenceId: string; policyDefinitionId: string; parameters: Record<string, { value: string }> }[];
  };

  test("groups the three definitions and passes each every parameter it needs", () => {
    assert.deepEqual(
      properties.policyDefinitions.map((d) => d.policyDefinitionReferenceId),
      ["vm", "vmss", "arc"],
    );
    for (const reference of properties.policyDefinitions) {
      const definition = load(`omsagent-linux-${reference.policyDefinitionReferenceId}.json`);
      assert.equal(reference.policyDefinitionId, `{definitionScope}/providers/Microsoft.Authorization/policyDefinitions/${definition.name as string}`);
      const needed = (definition.properties as { parameters: Record<string, { type: string; defaultValue?: unknown }> }).parameters;
      for (const [name, p] of Object.entries(needed)) {
        if (!("defaultValue" in p)) assert.ok(name in reference.parameters, `${reference.policyDefinitionReferenceId}: ${name} is passed`);
      }
      for (const [name, { value }] of Object.entries(reference.parameters)) {
        assert.ok(name in needed, `${name} is a parameter of ${definition.name as string}`);
        const initiativeParameter = /^\[parameters\('([^']+)'\)\]$/.exec(value)?.[1];
        assert.ok(initiativeParameter && initiativeParameter in properties.parameters, `${value} is an initiative parameter`);
        assert.equal(properties.parameters[initiativeParameter]!.type, needed[name]!.type);
      }
    }
  });
});
