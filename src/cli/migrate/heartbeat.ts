// Verifying that data arrives: an AMA heartbeat from the machine in the workspace. Every machine waiting for
// one joins a single shared query per interval instead of querying alone, because the Log Analytics query API
// allows a user about 200 requests per 30 seconds and a wave of a thousand machines would exceed that at once.
//
// The query follows Microsoft's AMA Migration Helper workbook (microsoft/AzureMonitorCommunity, "Migration
// Helper Workbook/AMA Migration Helper.workbook", item "heartbeatquery": Heartbeat summarised by _ResourceId),
// restricted to the new agent's rows: AMA's heartbeats carry Category "Azure Monitor Agent", the legacy
// agent's "Direct Agent". A scale set's heartbeats share the scale set's _ResourceId, one Computer per instance.
import type { LogsQueryClient } from "@azure/monitor-query-logs";
import { explainError, isAbort } from "../errors.ts";
import { sleep } from "../retry.ts";

const AMA_CATEGORY = "Azure Monitor Agent";
/** Most ids in one query, to keep the query text well under the API's size limits. */
const IDS_PER_QUERY = 400;
/** Heartbeats come every minute; one this much older than the wait's start still proves the agent reports. */
const SLACK_MS = 5 * 60_000;

export interface Beat {
  at: Date;
  computers: number;
}

interface Waiter {
  resourceId: string;
  since: number;
  deadline: number;
  /** Scale sets: instances that must each report. */
  computers: number;
  resolve: (beat: Beat | undefined) => void;
}

/** A KQL string literal in double quotes. */
function kql(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function heartbeatQuery(resourceIds: string[], category = AMA_CATEGORY): string {
  return [
    "Heartbeat",
    `| where Category == ${kql(category)}`,
    `| where _ResourceId in~ (${resourceIds.map((id) => kql(id.toLowerCase())).join(", ")})`,
    "| summarize LastHeartbeat = max(TimeGenerated), Computers = dcount(Computer) by ResourceId = tolower(_ResourceId)",
  ].join("\n");
}

export class HeartbeatWatcher {
  private waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  /** The last query failure, quoted when a machine's wait ends without a heartbeat. */
  private lastError: string | undefined;
  queries = 0;

  constructor(
    private readonly client: LogsQueryClient,
    private readonly workspaceId: string,
    private readonly intervalMs: number,
  ) {}

  /** Resolves with the newest heartbeat once one is seen, or undefined at the deadline (or on abort). */
  wait(resourceId: string, timeoutMs: number, computers: number, signal: AbortSignal): Promise<Beat | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = { resourceId: resourceId.toLowerCase(), since: Date.now(), deadline: Date.now() + timeoutMs, computers, resolve: () => undefined };
      const onAbort = (): void => waiter.resolve(undefined);
      waiter.resolve = (beat) => {
        signal.removeEventListener("abort", onAbort);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(beat);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.running ??= this.loop();
    });
  }

  get problem(): string | undefined {
    return this.lastError;
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        await this.round();
        if (this.waiters.length > 0) await sleep(this.intervalMs);
      }
    } finally {
      this.running = undefined;
    }
  }

  private async round(): Promise<void> {
    const now = Date.now();
    for (const w of [...this.waiters]) if (now >= w.deadline) w.resolve(undefined);
    const pending = [...this.waiters];
    for (let i = 0; i < pending.length; i += IDS_PER_QUERY) {
      const chunk = pending.slice(i, i + IDS_PER_QUERY);
      const startTime = new Date(Math.min(...chunk.map((w) => w.since)) - SLACK_MS);
      try {
        this.queries++;
        const result = await this.client.queryWorkspace(this.workspaceId, heartbeatQuery([...new Set(chunk.map((w) => w.resourceId))]), {
          startTime,
          endTime: new Date(),
        });
        const tables = "tables" in result ? result.tables : result.partialTables;
        const seen = new Map<string, Beat>();
        for (const table of tables) {
          const col = (name: string): number => table.columnDescriptors.findIndex((c) => c.name === name);
          const [id, last, computers] = [col("ResourceId"), col("LastHeartbeat"), col("Computers")];
          for (const row of table.rows) {
            const at = row[last];
            seen.set(String(row[id]).toLowerCase(), { at: at instanceof Date ? at : new Date(String(at)), computers: Number(row[computers] ?? 0) });
          }
        }
        this.lastError = "tables" in result ? undefined : `partial result: ${result.partialError.message}`;
        for (const w of chunk) {
          const beat = seen.get(w.resourceId);
          if (beat && beat.at.getTime() >= w.since - SLACK_MS && beat.computers >= w.computers) w.resolve(beat);
        }
      } catch (e) {
        if (isAbort(e)) throw e;
        this.lastError = explainError(e, "Log Analytics heartbeat query", 0).message;
      }
    }
  }
}
