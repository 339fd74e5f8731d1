// Knobs read from the environment. The guest agent sets none of them; they exist so tests and the
// simulated VM can re-root system paths, point at a fake metadata service and shorten waits.
export interface Tuning {
  /** OMS_HANDLER_ROOT: prefix for every system path (default /). */
  systemRoot: string;
  /** OMS_HANDLER_DEADLINE_SECONDS: replaces the operation's budget. */
  deadlineSeconds?: string;
  /** OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS: how long install/uninstall wait for apt/dpkg/rpm locks (default 600). */
  packageLockWaitMs: number;
  /** OMS_HANDLER_MIN_FREE_MB: free space required on /var, /etc and /opt (default 500). */
  minFreeMb: number;
  /** OMS_HANDLER_RETRY_DELAY_SECONDS: first back-off between onboarding attempts (default 10). */
  retryDelayMs: number;
}

function number(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(parsed) && parsed >= 0 ? parsed : fallback;
}

export function readTuning(env: NodeJS.ProcessEnv = process.env): Tuning {
  return {
    systemRoot: env.OMS_HANDLER_ROOT || "/",
    deadlineSeconds: env.OMS_HANDLER_DEADLINE_SECONDS,
    packageLockWaitMs: number(env.OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS, 600) * 1000,
    minFreeMb: number(env.OMS_HANDLER_MIN_FREE_MB, 500),
    retryDelayMs: number(env.OMS_HANDLER_RETRY_DELAY_SECONDS, 10) * 1000,
  };
}
