// Dotted versions compared as versions, for the handler (update, uninstall), the packaging checks and the fake
// guest agent alike.

/**
 * Orders dotted versions numerically (1.19.0 = 1.19.0.0 < 1.19.10): the guest agent, manifests and markers do
 * not all spell a version the same way. Non-numeric components compare as text.
 */
export function compareVersions(a: string, b: string): number {
  const left = a.trim().split(".");
  const right = b.trim().split(".");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i] ?? "0";
    const y = right[i] ?? "0";
    const difference = /^\d+$/.test(x) && /^\d+$/.test(y) ? Number(x) - Number(y) : x.localeCompare(y);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

export function sameVersion(a: string, b: string): boolean {
  return compareVersions(a, b) === 0;
}
