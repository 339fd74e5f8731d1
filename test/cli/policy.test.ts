// The Azure Policy definitions in policy/: well-formed DeployIfNotExists policy, an extension that passes our
// settings schemas, and an existence condition that matches what the fleet CLI deploys.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
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
  arcAdministrator: "/providers/Microsoft.Authorization/roleDefinitions/cd570a14-e51a-42ad-bac8-bafd67325302",
};

const KINDS = {
  vm: {
    type: "Microsoft.Compute/virtualMachines",
    extension: "Microsoft.Compute/virtualMachines/extensions",
    roles: [ROLE.vmContributor, ROLE.logAnalyticsContributor],
  },
  vmss: {
    type: "Microsoft.Compute/virtualMachineScaleSets",
    extension: "Microsoft.Compute/virtualMachineScaleSets/extensions",
    roles: [ROLE.vmContributor, ROLE.logAnalyticsContributor],
  },
  arc: {
    type: "Microsoft.HybridCompute/machines",
    extension: "Microsoft.HybridCompute/machines/extensions",
    roles: [ROLE.arcAdministrator, ROLE.logAnalyticsContributor],
  },
} as const;

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

for (const [kind, expected] of Object.entries(KINDS)) {
  describe(`policy/omsagent-linux-${kind}.json`, () => {
    const definition = load(`omsagent-linux-${kind}.json`);
    const properties = definition.properties as Json;
    const parameters = properties.parameters as Record<string, { type: string; defaultValue?: unknown; allowedValues?: unknown[] }>;
    const rule = properties.policyRule as { if: Json; then: { effect: string; details: Json } };
    const details = rule.then.details as {
      type: string;
      roleDefinitionIds: string[];
      existenceCondition: { allOf: { field: string; equals: unknown }[] };
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
      const condition = new Map(details.existenceCondition.allOf.map((c) => [c.field, c.equals]));
      assert.equal(condition.get(`${expected.extension}/publisher`), PUBLISHER);
      assert.equal(condition.get(`${expected.extension}/type`), EXTENSION_TYPE);
      assert.equal(condition.get(`${expected.extension}/typeHandlerVersion`), "[parameters('typeHandlerVersion')]");
      assert.equal(parameters.typeHandlerVersion?.defaultValue, DEFAULT_TYPE_HANDLER_VERSION);
      assert.equal(condition.get(`${expected.extension}/provisioningState`), "Succeeded");
    });

    test("its deployment is a complete template whose extension passes our settings schemas, with the key from listKeys", () => {
      const deployment = details.deployment.properties;
      assert.equal(deployment.mode, "incremental");
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
