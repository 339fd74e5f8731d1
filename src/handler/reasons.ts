// Every reason the handler can put in a status message, bound to the published code it carries (README,
// "Error codes"). ExtensionError takes the reason and looks its code up here, so a reason cannot be reported
// under two codes and a misspelt one does not compile; test/readme.test.ts checks each README row against it.
import type { ExtensionCode } from "./errors.ts";

export const ReasonCodes = {
  EnableBeforeInstall: 9,

  MultipleConnections: 10,

  InvalidConfiguration: 11,

  OmsAgentInstallFailed: 17,
  OmsConfigInstallFailed: 18,
  OmiInstallFailed: 19,
  ScxInstallFailed: 20,
  ProviderKitsInstallFailed: 21,
  BundledPackageInstallFailed: 22,
  IncompatibleVersionInstalled: 23,

  UnexpectedError: 30,
  HandlerEnvironmentInvalid: 30,
  HandlerFilesMissing: 30,
  AnotherOperationRunning: 30,
  LockLost: 30,
  BundleMissing: 30,
  BundleChecksumMismatch: 30,
  BundleRejectedOptions: 30,
  BundleInternalError: 30,
  BundleFailed: 30,
  OnboardingInvalidOptions: 30,
  OnboardingInternalError: 30,
  OnboardingFailed: 30,
  OnboardingSkipped: 30,
  AgentConfigurationMismatch: 30,
  ServiceControlFailed: 30,
  ServiceControlRejectedOptions: 30,
  ServiceControlTimedOut: 30,
  AgentFilesMissing: 30,
  AgentNotRunning: 30,

  MetaConfigurationFailed: 33,

  UnsupportedOperatingSystem: 51,
  UnknownOperatingSystem: 51,
  UnsupportedArchitecture: 51,
  WrongPackageFormat: 51,
  UnsupportedPackageManager: 51,

  InsufficientDiskSpace: 52,
  CurlMissing: 52,
  OpenSslMissing: 52,
  PythonMissing: 52,
  GpgMissing: 52,
  CommandNotFound: 52,
  MissingDependency: 52,
  InsufficientMemory: 52,
  PackageConfigurationFailed: 52,
  PermissionDenied: 52,
  NotRunningAsRoot: 52,
  ServiceManagerMissing: 52,
  SyslogUnavailable: 52,

  WorkspaceKeyRejected: 53,
  ClockSkewOrKeyRejected: 53,
  ProxyRejected: 53,
  InvalidWorkspaceConfiguration: 53,

  PackageManagerLocked: 55,
  CurlInstallFailed: 55,
  ServiceUnavailable: 55,
  CannotResolveHost: 55,
  ServiceUnreachable: 55,
  BundleTimedOut: 55,
  OnboardingTimedOut: 55,

  UnsupportedOpenSsl: 60,

  PythonCtypesMissing: 61,

  TarMissing: 62,

  SedMissing: 63,
} as const satisfies Record<string, ExtensionCode>;

export type Reason = keyof typeof ReasonCodes;

export function codeOf(reason: Reason): ExtensionCode {
  return ReasonCodes[reason];
}
