// Test-time certificates and protected-settings encryption, done the way CRP and the guest agent do it:
// a self-signed cert stored as <THUMBPRINT>.crt / <THUMBPRINT>.prv, settings encrypted to it as
// base64(DER CMS EnvelopedData).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCertificate {
  thumbprint: string;
  crtPath: string;
  prvPath: string;
}

/** Creates `<dir>/<THUMBPRINT>.crt` and `.prv` (dir is the fake /var/lib/waagent). */
export function makeCertificate(dir: string): TestCertificate {
  mkdirSync(dir, { recursive: true });
  const tmpCrt = join(dir, "new.crt");
  const tmpKey = join(dir, "new.prv");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Windows Azure CRP Certificate Generator", "-keyout", tmpKey, "-out", tmpCrt],
    { stdio: "ignore" },
  );
  const fingerprint = execFileSync("openssl", ["x509", "-in", tmpCrt, "-noout", "-fingerprint", "-sha1"], { encoding: "utf8" });
  const thumbprint = fingerprint.split("=")[1]!.trim().replace(/:/g, "").toUpperCase();
  const crtPath = join(dir, `${thumbprint}.crt`);
  const prvPath = join(dir, `${thumbprint}.prv`);
  execFileSync("mv", [tmpCrt, crtPath]);
  execFileSync("mv", [tmpKey, prvPath]);
  return { thumbprint, crtPath, prvPath };
}

/** base64 DER CMS EnvelopedData of the JSON, as CRP sends protectedSettings. */
export function encryptProtectedSettings(value: unknown, crtPath: string): string {
  const der = execFileSync("openssl", ["cms", "-encrypt", "-outform", "DER", "-aes256", crtPath], {
    input: typeof value === "string" ? value : JSON.stringify(value),
  });
  return der.toString("base64");
}

export interface SettingsFileInput {
  publicSettings?: unknown;
  protectedSettings?: unknown;
  certificate?: TestCertificate;
}

/** Writes `<configFolder>/<seq>.settings` as the guest agent does (single-line JSON, one runtimeSettings). */
export function writeSettingsFile(configFolder: string, seq: number, input: SettingsFileInput): string {
  mkdirSync(configFolder, { recursive: true });
  const hasProtected = input.protectedSettings !== undefined && input.certificate !== undefined;
  const handlerSettings = {
    publicSettings: input.publicSettings ?? null,
    protectedSettings: hasProtected ? encryptProtectedSettings(input.protectedSettings, input.certificate!.crtPath) : null,
    protectedSettingsCertThumbprint: hasProtected ? input.certificate!.thumbprint : null,
  };
  const path = join(configFolder, `${seq}.settings`);
  writeFileSync(path, JSON.stringify({ runtimeSettings: [{ handlerSettings }] }));
  return path;
}
