import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";

/** A throwaway PostgreSQL server on 127.0.0.1 in a temp dir. */
export interface PostgresServer {
  /** Connection URL of a fresh database made by {@link createDatabase}. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

function findBinDir(): string {
  const fromPath = (process.env.PATH ?? "")
    .split(path.delimiter)
    .find((d) => d && existsSync(path.join(d, "initdb")) && existsSync(path.join(d, "pg_ctl")));
  if (fromPath) return fromPath;
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort().reverse()) {
      const d = path.join(root, v, "bin");
      if (existsSync(path.join(d, "initdb")) && existsSync(path.join(d, "pg_ctl"))) return d;
    }
  }
  throw new Error(
    "PostgreSQL server binaries (initdb, pg_ctl) were not found in PATH or /usr/lib/postgresql/*/bin; " +
      "install the Debian package postgresql to run the PostgreSQL store tests",
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts PostgreSQL with initdb/pg_ctl (as user postgres when running as root, which initdb refuses). */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = findBinDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), "aa-pg-"));
  const asRoot = process.getuid?.() === 0;
  let run = (cmd: string, args: string[]) => spawnSync(path.join(bin, cmd), args, { encoding: "utf8" });
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
    run = (cmd, args) =>
      spawnSync("runuser", ["-u", "postgres", "--", path.join(bin, cmd), ...args], { encoding: "utf8" });
  }
  const data = path.join(dir, "data");
  const init = run("initdb", ["-D", data, "-U", "test", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const start = run("pg_ctl", [
    "-D",
    data,
    "-l",
    path.join(dir, "server.log"),
    "-w",
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
    "start",
  ]);
  if (start.status !== 0) {
    // pg_ctl may have started the server and only failed its wait: stop it, so a failed
    // start leaves no postgres behind (the tests' afterAll has nothing to stop yet).
    run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pg_ctl start failed: ${start.stderr || start.stdout}`);
  }
  const base = `postgres://test@127.0.0.1:${port}`;
  return {
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: `${base}/postgres` });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return `${base}/${name}`;
    },
    async stop() {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
