// Where the guest agent wants our logs, config, status and events: HandlerEnvironment.json, found in the
// extension directory or one level above (never the working directory), plus our own name and version
// from manifest.xml.
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { EXTENSION_FULL_NAME } from "../shared/identity.ts";
import { ExtensionError } from "./errors.ts";
import type { ProcessEnvironment } from "./process-env.ts";

export interface HandlerEnvironment {
  /** The versioned extension directory (where the shim, manifest.xml and packages/ are). */
  extensionDir: string;
  name: string;
  /** This handler's version, from manifest.xml. */
  version: string;
  logFolder: string;
  configFolder: string;
  statusFolder: string;
  heartbeatFile?: string;
  eventsFolder?: string;
  /** Version-independent state: survives updates, removed by a real uninstall. */
  stateDir: string;
  /** The guest agent's library dir (configFolder/../..), where tenant certificates normally are. */
  libDir: string;
}

const FILE = "HandlerEnvironment.json";

function unreadable(problem: string): ExtensionError {
  return new ExtensionError("HandlerEnvironmentInvalid", problem, "reinstall the extension so the guest agent rewrites HandlerEnvironment.json");
}

/** HandlerEnvironment.json in the extension directory or one level above, or undefined when neither has it. */
export function handlerEnvironmentPath(extensionDir: string): string | undefined {
  return [join(extensionDir, FILE), join(dirname(extensionDir), FILE)].find((candidate) => existsSync(candidate));
}

function findHandlerEnvironment(extensionDir: string): string {
  const path = handlerEnvironmentPath(extensionDir);
  if (path === undefined) throw unreadable(`${FILE} was not found in ${extensionDir} or its parent`);
  return path;
}

function requiredFolder(settings: Record<string, unknown>, key: string, path: string): string {
  const value = settings[key];
  if (typeof value !== "string" || value.trim() === "") throw unreadable(`${path} has no "${key}"`);
  return value;
}

function optionalFolder(settings: Record<string, unknown>, key: string): string | undefined {
  const value = settings[key];
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/**
 * `<ProviderNameSpace>.<Type>` of the package's manifest.xml: a package built under a builder's own namespace
 * (npm run package -- --publisher/--type) reports under that name when HandlerEnvironment.json names none.
 */
export function packageFullName(extensionDir: string): string {
  try {
    const xml = readFileSync(join(extensionDir, "manifest.xml"), "utf8");
    const publisher = /<ProviderNameSpace>\s*([^<\s]+)\s*<\/ProviderNameSpace>/.exec(xml)?.[1];
    const type = /<Type>\s*([^<\s]+)\s*<\/Type>/.exec(xml)?.[1];
    return publisher && type ? `${publisher}.${type}` : EXTENSION_FULL_NAME;
  } catch {
    return EXTENSION_FULL_NAME;
  }
}

/** Reads `<Version>` from manifest.xml; manifest.xml is the single source of our version. */
function readManifestVersion(extensionDir: string): string | undefined {
  try {
    const xml = readFileSync(join(extensionDir, "manifest.xml"), "utf8");
    return /<Version>\s*([^<\s]+)\s*<\/Version>/.exec(xml)?.[1];
  } catch {
    return undefined;
  }
}

export function loadEnvironment(extensionDir: string, processEnv: Pick<ProcessEnvironment, "extensionVersion">): HandlerEnvironment {
  const path = findHandlerEnvironment(extensionDir);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8").replace(/^\uFEFF/, ""));
  } catch (error) {
    throw unreadable(`${path} is not valid JSON (${(error as Error).message})`);
  }
  const entry = (Array.isArray(parsed) ? parsed[0] : parsed) as Record<string, unknown> | undefined;
  const settings = entry?.handlerEnvironment as Record<string, unknown> | undefined;
  if (!entry || typeof settings !== "object" || settings === null) throw unreadable(`${path} has no "handlerEnvironment" object`);

  const configFolder = resolve(requiredFolder(settings, "configFolder", path));
  const libDir = resolve(configFolder, "..", "..");
  const name = typeof entry.name === "string" && entry.name ? entry.name : packageFullName(extensionDir);
  const version = readManifestVersion(extensionDir) ?? processEnv.extensionVersion ?? /-(\d+(?:\.\d+)*)$/.exec(basename(extensionDir))?.[1] ?? "0.0.0";
  return {
    extensionDir,
    name,
    version,
    logFolder: requiredFolder(settings, "logFolder", path),
    configFolder,
    statusFolder: requiredFolder(settings, "statusFolder", path),
    heartbeatFile: optionalFolder(settings, "heartbeatFile"),
    eventsFolder: optionalFolder(settings, "eventsFolder"),
    libDir,
    stateDir: join(libDir, name),
  };
}
