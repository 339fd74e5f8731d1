// The handler's durable memory, kept in a version-independent directory beside the versioned extension
// directories so it survives updates (the guest agent deletes the old version's directory): the last
// applied enable, the update-in-progress marker, and the stashed workspace configuration.
import {
  chmodSync,
  closeSync,
  copyFileSync,
  fsyncSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";

export interface AppliedEnable {
  seq: number;
  settingsHash: string;
  /** Hash of the raw settings file: the same file again needs no decryption to be recognised. */
  settingsFileHash?: string;
  workspaceId: string;
  handlerVersion: string;
  at: string;
}

export interface UpdateMarker {
  fromVersion: string;
  toVersion: string;
  at: string;
}

const APPLIED = "applied.json";
const UPDATE_MARKER = "update-in-progress.json";
const STASH = "stash";
/** An update marker older than this is left over from an interrupted update and no longer protects anything. */
const UPDATE_MARKER_TTL_MS = 6 * 60 * 60 * 1000;

const isRoot = () => process.getuid?.() === 0;

/**
 * Replaces `path` so that after a crash or power loss it holds the old content or the new, never an empty or
 * partial file: temp file, fsync, rename, then fsync of the directory so the rename itself is on disk.
 */
export function writeFileDurably(path: string, content: string, mode: number): void {
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, "w", mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  try {
    const dir = openSync(dirname(path), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the file itself is already durable.
  }
}

/**
 * Copies a tree keeping what the agent depends on: owner and group (the agent runs as omsagent and must read its
 * key), mode, timestamps, and symlinks as links. A plain recursive copy run as root would leave everything
 * root-owned. Ownership is only kept when running as root (nobody else may give files away).
 */
function copyTree(source: string, target: string): void {
  const stats = lstatSync(source);
  if (stats.isSymbolicLink()) {
    symlinkSync(readlinkSync(source), target);
  } else if (stats.isDirectory()) {
    mkdirSync(target, { mode: 0o700 });
    for (const entry of readdirSync(source)) copyTree(join(source, entry), join(target, entry));
    chmodSync(target, stats.mode & 0o7777);
  } else {
    copyFileSync(source, target);
    chmodSync(target, stats.mode & 0o7777);
  }
  if (isRoot()) lchownSync(target, stats.uid, stats.gid);
  if (!stats.isSymbolicLink()) utimesSync(target, stats.atime, stats.mtime);
}

/** Gives a whole tree (symlinks themselves, not their targets) to uid:gid. Needs root; a no-op otherwise. */
export function chownTree(path: string, uid: number, gid: number): void {
  if (!isRoot()) return;
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return;
  }
  lchownSync(path, uid, gid);
  if (stats.isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

/** rename, or copy + delete when source and target are on different filesystems (/var and /etc often are). */
function moveDirectory(source: string, target: string): void {
  mkdirSync(dirname(target), { recursive: true });
  try {
    renameSync(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    copyTree(source, target);
    rmSync(source, { recursive: true, force: true });
  }
}

export class StateStore {
  constructor(readonly dir: string) {}

  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private readJson<T>(file: string): T | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, file), "utf8")) as T;
    } catch {
      return undefined;
    }
  }

  private writeJson(file: string, value: unknown): void {
    this.ensure();
    writeFileDurably(join(this.dir, file), JSON.stringify(value, null, 2) + "\n", 0o600);
  }

  applied(): AppliedEnable | undefined {
    return this.readJson<AppliedEnable>(APPLIED);
  }

  recordApplied(value: AppliedEnable): void {
    this.writeJson(APPLIED, value);
  }

  /** The next enable must run fully (the agent was stopped); which workspace we connected is still known. */
  invalidateApplied(): void {
    const applied = this.applied();
    if (applied) this.writeJson(APPLIED, { ...applied, seq: -1, settingsHash: "", settingsFileHash: undefined });
  }

  updateMarker(now = Date.now()): UpdateMarker | undefined {
    const marker = this.readJson<UpdateMarker>(UPDATE_MARKER);
    if (!marker) return undefined;
    const age = now - Date.parse(marker.at);
    return Number.isFinite(age) && age <= UPDATE_MARKER_TTL_MS ? marker : undefined;
  }

  markUpdate(marker: UpdateMarker): void {
    this.writeJson(UPDATE_MARKER, marker);
  }

  clearUpdateMarker(): void {
    rmSync(join(this.dir, UPDATE_MARKER), { force: true });
  }

  stashDir(): string {
    return join(this.dir, STASH);
  }

  /** Copies each workspace directory into the stash (replacing an older copy). */
  stashWorkspaces(sources: Map<string, string>): string[] {
    const stashed: string[] = [];
    for (const [workspaceId, source] of sources) {
      const target = join(this.stashDir(), workspaceId);
      rmSync(target, { recursive: true, force: true });
      mkdirSync(this.stashDir(), { recursive: true, mode: 0o700 });
      copyTree(source, target);
      stashed.push(workspaceId);
    }
    return stashed;
  }

  /** Workspace ids with a stashed configuration. */
  stashedWorkspaces(): string[] {
    try {
      return readdirSync(this.stashDir());
    } catch {
      return [];
    }
  }

  /**
   * Puts each stashed workspace back where it is missing (the old version's uninstall removed it);
   * a workspace that is still in place wins over its stashed copy. The stash is emptied either way.
   */
  restoreWorkspaces(targetFor: (workspaceId: string) => string): string[] {
    const restored: string[] = [];
    for (const workspaceId of this.stashedWorkspaces()) {
      const source = join(this.stashDir(), workspaceId);
      const target = targetFor(workspaceId);
      if (!existsSync(target)) {
        moveDirectory(source, target);
        restored.push(workspaceId);
      }
    }
    rmSync(this.stashDir(), { recursive: true, force: true });
    return restored;
  }

  /** A real uninstall: the handler leaves nothing behind. */
  removeAll(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
