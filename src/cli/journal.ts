// The deploy journal: one JSON object per line, appended and fsync'd, so that a run killed at any moment
// (Ctrl-C, a closed laptop, a crashed CI runner) can be resumed without sending any machine's PUT twice.
//
// The first line describes the run (extension, a hash of the public settings, every target id); each later
// line is one machine's state change. The journal never holds protected settings: they are not written at
// all, and every message (the one place ARM's text, which may echo a request, reaches it) passes through the
// same redactor as the CLI's output.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, type FileHandle } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import lockfile from "proper-lockfile";

export const JOURNAL_VERSION = 1;

export interface JournalHeader {
  type: "run";
  version: number;
  command: "deploy" | "migrate";
  started: string;
  endpoint: string;
  extension: {
    name: string;
    typeHandlerVersion: string;
    autoUpgradeMinorVersion: boolean;
    enableAutomaticUpgrade: boolean;
    forceUpdateTag?: string;
  };
  /** sha256 of the public settings in canonical JSON: a resume must deploy the same settings. */
  settingsSha256: string;
  /** Every target id of the run, in order. */
  targets: string[];
  /** `migrate` runs: where the machines move to (src/cli/migrate/command.ts). */
  migration?: Record<string, string | boolean>;
}

/**
 * `sending`: about to send the PUT (written and fsync'd before it goes out, so a machine with no record was
 * never sent anything); `accepted`: ARM answered the PUT with 2xx, the operation runs in Azure;
 * `succeeded` / `failed`: the machine's final result in that run.
 */
export type MachineState = "sending" | "accepted" | "succeeded" | "failed" | MigrationState;

/** The steps of `migrate` (src/cli/migrate/deploy.ts), each recorded as it completes or before its write goes out. */
type MigrationState = "ama-sending" | "ama-accepted" | "associated" | "verified" | "legacy-removing";

export interface JournalEntry {
  type: "machine";
  id: string;
  state: MachineState;
  at: string;
  result?: string;
  code?: number | null;
  message?: string;
}

interface JournalResume {
  type: "resume";
  at: string;
}

type Line = JournalHeader | JournalEntry | JournalResume;

/** JSON with object keys sorted, so equal settings hash equally whatever their key order. */
/**
 * Where a run's journal goes when --journal is not given: like other state of command-line tools,
 * XDG_STATE_HOME, else ~/.local/state. The time is for the operator to find it, the random tail so two runs in
 * the same millisecond never collide.
 */
export async function defaultJournalPath(env: NodeJS.ProcessEnv, command: string): Promise<string> {
  const dir = join(env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state"), "omsagent-fleet");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${command}-${new Date().toISOString().replace(/[-:]/g, "").replace(".", "-")}-${randomBytes(3).toString("hex")}.jsonl`);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function settingsHash(publicSettings: unknown): string {
  return createHash("sha256").update(canonicalJson(publicSettings)).digest("hex");
}

export class Journal {
  private pending: { line: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  /** The first write error, reported at the end of the run (the rollout itself goes on). */
  error: Error | undefined;

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly redact: (text: string) => string,
    /** The lock of the run that created the journal (a resumed one's is the resuming command's: resumeJournal). */
    private readonly release?: () => Promise<void>,
  ) {}

  /**
   * A new journal; refuses to overwrite an existing file (it may be the only record of a run). It is locked as
   * soon as it exists and until close(), so that a --resume of it cannot run beside the run writing it.
   */
  static async create(path: string, header: JournalHeader, redact: (text: string) => string): Promise<Journal> {
    const file = await open(path, "wx", 0o600);
    const lock = await lockJournal(path);
    if (!lock.ok) {
      await file.close();
      throw new Error(lock.message);
    }
    const journal = new Journal(path, file, redact, lock.release);
    await journal.append(header);
    return journal;
  }

  /** Appends to a journal being resumed. */
  static async reopen(path: string, redact: (text: string) => string): Promise<Journal> {
    const journal = new Journal(path, await open(path, "a"), redact);
    await journal.append({ type: "resume", at: new Date().toISOString() });
    return journal;
  }

  /**
   * Resolves once the line is on disk (fsync'd). Lines written while a flush runs are grouped into the next
   * write and one fsync, so a fleet of workers costs a few fsyncs per second, not one per machine.
   */
  append(line: Line): Promise<void> {
    const text = JSON.stringify(line) + "\n";
    return new Promise((resolve, reject) => {
      this.pending.push({ line: text, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** A state change; failures to write are remembered in `error` rather than failing the machine. */
  record(id: string, state: MachineState, extra: Omit<JournalEntry, "type" | "id" | "state" | "at"> = {}): Promise<void> {
    // Only messages are redacted: they may quote ARM error bodies that echo the request. Ids must stay intact
    // for --resume (a single-target run may pass its own id as protectedSettings.vmResourceId).
    const message = extra.message !== undefined ? { message: this.redact(extra.message) } : {};
    return this.append({ type: "machine", id, state, at: new Date().toISOString(), ...extra, ...message }).catch((e: unknown) => {
      this.error ??= e as Error;
      throw e;
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.file.write(batch.map((b) => b.line).join(""));
        await this.file.datasync();
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    this.flushing = undefined;
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.file.close();
    await this.release?.();
  }
}

export interface JournalContents {
  header: JournalHeader;
  /** Each machine's last recorded entry, keyed by lower-cased id. */
  last: Map<string, JournalEntry>;
}

/** Reads a journal; a torn last line (the process died mid-write) is ignored, anything else wrong is an error. */
async function readJournal(path: string): Promise<{ ok: true; contents: JournalContents } | { ok: false; message: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return { ok: false, message: `cannot read journal ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const lines = text.split("\n");
  let header: JournalHeader | undefined;
  const last = new Map<string, JournalEntry>();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "") continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      const isLast = lines.slice(i + 1).every((l) => l.trim() === "");
      if (isLast) break;
      return { ok: false, message: `journal ${path}:${i + 1} is not JSON; the journal is damaged` };
    }
    if (i === 0) {
      if (line.type !== "run" || line.version !== JOURNAL_VERSION || !Array.isArray(line.targets)) {
        return { ok: false, message: `${path} is not a fleet journal (version ${JOURNAL_VERSION}); expected the file a deploy run wrote` };
      }
      header = line;
    } else if (line.type === "machine") {
      last.set(line.id.toLowerCase(), line);
    }
  }
  if (!header) return { ok: false, message: `journal ${path} is empty` };
  return { ok: true, contents: { header, last } };
}

/**
 * A journal to resume, read under its lock (taken first, so that the state read is the state this run owns).
 * The caller holds the lock until the run ends, whatever way it ends.
 */
export async function resumeJournal(
  path: string,
): Promise<{ ok: true; contents: JournalContents; release: () => Promise<void> } | { ok: false; message: string }> {
  const lock = await lockJournal(path);
  if (!lock.ok) return lock;
  const read = await readJournal(path);
  if (!read.ok) {
    await lock.release().catch(() => undefined);
    return read;
  }
  return { ok: true, contents: read.contents, release: lock.release };
}

/**
 * An exclusive lock beside the journal (`<journal>.lock`), held for the whole run: two runs resuming the same
 * journal would each re-send what the other is sending and interleave their lines. A lock left by a process
 * that died goes stale after `staleMs` (proper-lockfile keeps a live one fresh) and is taken over.
 */
async function lockJournal(path: string, staleMs = 30_000): Promise<{ ok: true; release: () => Promise<void> } | { ok: false; message: string }> {
  try {
    const release = await lockfile.lock(path, { lockfilePath: `${path}.lock`, realpath: false, retries: 0, stale: staleMs });
    return { ok: true, release };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOCKED")
      return {
        ok: false,
        message: `another omsagent-fleet run is using the journal ${path} (lock ${path}.lock); let it finish, or if it was killed, wait ${Math.round(staleMs / 1000)} s for its lock to go stale and resume again`,
      };
    return { ok: false, message: `cannot lock the journal ${path}: ${(e as Error).message}` };
  }
}
