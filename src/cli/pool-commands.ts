/**
 * `armada-airflow pools set|list|delete`: the pools that limit how many task
 * instances run at once across every runner and scheduler of a store.
 */
import type { Command } from "@commander-js/extra-typings";
import { RuntimeError } from "../runtime/errors.js";
import { DEFAULT_POOL, checkPoolSlots } from "../runtime/pools.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, withStore } from "./common-options.js";
import { table } from "./format.js";

/** What these commands need of the CLI's context. */
export type PoolCliContext = Pick<CliContext, "out" | "err" | "cwd" | "env" | "config">;

type AnyCommand = Command<unknown[], Record<string, unknown>>;

/** `pools set`: creates a pool or resizes it. */
function setCommand(pools: AnyCommand, ctx: PoolCliContext): void {
  pools
    .command("set")
    .description(
      "create a pool or change its size (tries running beyond a smaller size finish; no new ones start)",
    )
    .argument("<name>")
    .argument("<slots>", "how many slots its task instances may take at once (integer >= 0)")
    .option("--description <text>", "what the pool is for")
    .option("--include-deferred", "deferred task instances keep their slots (default: they free them)")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (name, slotsText, opts) => {
      const o = opts as { description?: string; includeDeferred?: boolean; json?: boolean; db?: string };
      const poolName = String(name);
      if (poolName.trim() === "" || poolName.length > 256) {
        throw new RuntimeError(
          "invalid_argument",
          `pool name must be a non-empty string of at most 256 characters, got ${JSON.stringify(poolName)}`,
        );
      }
      const slots = checkPoolSlots(slotsText, "SLOTS (pools set NAME SLOTS)");
      await withStore(ctx, o.db, async (store) => {
        const before = await store.getPool(poolName);
        const row = {
          name: poolName,
          slots,
          description: o.description ?? before?.description ?? "",
          includeDeferred: Boolean(o.includeDeferred),
        };
        await store.setPool(row);
        if (o.json) ctx.out(JSON.stringify(row, null, 2) + "\n");
        else
          ctx.out(
            `${before ? "Updated" : "Created"} pool ${poolName}: ${slots} slots${row.includeDeferred ? ", deferred tasks keep theirs" : ""}\n`,
          );
      });
    });
}

/** `pools list`: each pool's size and the slots taken now. */
function listCommand(pools: AnyCommand, ctx: PoolCliContext): void {
  pools
    .command("list")
    .description("pools with their size and the slots taken now")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (opts) => {
      const o = opts as { json?: boolean; db?: string };
      await withStore(ctx, o.db, async (store) => {
        const usage = new Map((await store.poolUsage()).map((u) => [u.pool, u]));
        const rows = (await store.listPools()).map((p) => {
          const u = usage.get(p.name);
          const running = u?.running ?? 0;
          const deferred = u?.deferred ?? 0;
          const occupied = running + (p.includeDeferred ? deferred : 0);
          return { ...p, running, deferred, occupied, open: Math.max(0, p.slots - occupied) };
        });
        if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
        else
          ctx.out(
            table(
              ["pool", "slots", "running", "deferred", "open", "include_deferred", "description"],
              rows.map((r) => [
                r.name,
                r.slots,
                r.running,
                r.deferred,
                r.open,
                String(r.includeDeferred),
                r.description,
              ]),
            ),
          );
      });
    });
}

/** `pools delete`: any pool but the default one. */
function deleteCommand(pools: AnyCommand, ctx: PoolCliContext): void {
  pools
    .command("delete")
    .description(
      `delete a pool (not ${DEFAULT_POOL}); tasks that name it then fail to start until it exists again`,
    )
    .argument("<name>")
    .addOption(dbOption())
    .action(async (name, opts) => {
      const o = opts as { db?: string };
      const poolName = String(name);
      if (poolName === DEFAULT_POOL) {
        throw new RuntimeError(
          "invalid_argument",
          `${DEFAULT_POOL} cannot be deleted; resize it with: armada-airflow pools set ${DEFAULT_POOL} SLOTS`,
        );
      }
      await withStore(ctx, o.db, async (store) => {
        if (!(await store.deletePool(poolName))) {
          throw new RuntimeError(
            "not_found",
            `no pool ${JSON.stringify(poolName)}; see armada-airflow pools list`,
          );
        }
        ctx.out(`Deleted pool ${poolName}\n`);
      });
    });
}

/** Adds the `pools` command group. */
export function registerPoolCommands(program: unknown, ctx: PoolCliContext): void {
  const pools = (program as AnyCommand)
    .command("pools")
    .description("pools of slots that limit how many task instances run at once (operator option pool)");
  setCommand(pools, ctx);
  listCommand(pools, ctx);
  deleteCommand(pools, ctx);
}
