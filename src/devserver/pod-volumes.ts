/**
 * `emptyDir` volumes for `process` mode: one real temporary folder per volume
 * per pod, shared by every container (init containers included) that mounts
 * it, bind-mounted at the mount's `mountPath` inside a private mount
 * namespace of each container process (`unshare --mount`), so the host's
 * file system sees no mount. That needs root or unprivileged user
 * namespaces; where neither is available, a pod that mounts a volume fails
 * with a reason that says so, rather than running with its files elsewhere.
 * Other volume kinds (hostPath, configMap, secret, persistentVolumeClaim ...)
 * have nothing behind them here and fail the pod the same way.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import path from "node:path";
import type { Container, PodSpec } from "../gen/k8s.io/api/core/v1/generated.js";

let namespaces: { argv: string[] } | { problem: string } | undefined;

/** How to run a process in a private mount namespace here, or why it cannot be done. */
export function mountNamespaceSupport(): { argv: string[] } | { problem: string } {
  if (namespaces) return namespaces;
  const tries: string[][] = [
    ["unshare", "--mount", "--propagation", "private"],
    // Not root: a user namespace where this user is root may still make a mount namespace.
    ["unshare", "--mount", "--propagation", "private", "--map-root-user"],
  ];
  let last = "";
  for (const argv of tries) {
    try {
      execFileSync(argv[0]!, [...argv.slice(1), "--", "true"], { stdio: "pipe" });
      namespaces = { argv };
      return namespaces;
    } catch (err) {
      last = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    }
  }
  namespaces = { problem: `this machine cannot make a private mount namespace (unshare --mount: ${last})` };
  return namespaces;
}

/** One bind mount of a container: the pod's volume folder at `mountPath`. */
export interface VolumeBind {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Why the pod's volumes cannot be given to it in process mode, or undefined when they can. */
export function volumeProblem(spec: PodSpec): string | undefined {
  const containers = [...spec.initContainers, ...spec.containers];
  if (!containers.some((c) => c.volumeMounts.length > 0)) return undefined;
  for (const v of spec.volumes) {
    if (!v.volumeSource?.emptyDir) {
      const kind = Object.entries(v.volumeSource ?? {}).find(([, x]) => x !== undefined)?.[0] ?? "unknown";
      return `volume ${v.name} is a ${kind} volume; the dev server's process executor provides emptyDir volumes only`;
    }
  }
  for (const c of containers) {
    for (const m of c.volumeMounts) {
      if (!spec.volumes.some((v) => v.name === m.name)) {
        return `container ${c.name} mounts volume ${m.name}, which the pod does not define`;
      }
      if (!m.mountPath || !path.isAbsolute(m.mountPath)) {
        return `container ${c.name} mounts volume ${m.name} at "${m.mountPath ?? ""}": mountPath must be an absolute path`;
      }
      if (m.subPath && (path.isAbsolute(m.subPath) || m.subPath.split("/").includes(".."))) {
        return `container ${c.name} mounts volume ${m.name} with subPath "${m.subPath}": it must be a relative path without ".."`;
      }
    }
  }
  const support = mountNamespaceSupport();
  if ("problem" in support) {
    return `the pod mounts emptyDir volumes, and ${support.problem}; the process executor cannot give each pod its own mounts`;
  }
  return undefined;
}

/** The binds of a container, given each volume's folder. */
export function bindsOf(container: Container, volumeDirs: Map<string, string>): VolumeBind[] {
  return container.volumeMounts.map((m) => {
    const dir = volumeDirs.get(m.name ?? "")!;
    const source = m.subPath ? path.join(dir, m.subPath) : dir;
    mkdirSync(source, { recursive: true });
    return { source, target: m.mountPath!, readOnly: m.readOnly ?? false };
  });
}

/**
 * Creates the mount points that do not exist yet (a bind needs a directory
 * to mount on); returns them deepest first, for {@link removeMountPoints}.
 */
export function createMountPoints(binds: VolumeBind[]): string[] {
  const created: string[] = [];
  for (const b of binds) {
    const missing: string[] = [];
    for (let p = b.target; !existsSync(p); p = path.dirname(p)) missing.push(p);
    mkdirSync(b.target, { recursive: true });
    created.push(...missing);
  }
  return created;
}

/** Removes mount points this pod created, if they are still empty (another pod may be using the same path). */
export function removeMountPoints(created: string[]): void {
  for (const p of created) {
    try {
      rmdirSync(p);
    } catch {
      // Not empty, or in use: left as it is.
    }
  }
}

/** `argv` run in a private mount namespace with the binds in place (unchanged when there are none). */
export function withBinds(argv: string[], binds: VolumeBind[]): string[] {
  if (binds.length === 0) return argv;
  const support = mountNamespaceSupport();
  if ("problem" in support) throw new Error(support.problem);
  // Positional arguments, never interpolated into the script: paths with spaces or quotes stay intact.
  const script =
    'set -e; while [ "$1" != "--" ]; do mount --bind "$1" "$2"; ' +
    'if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi; shift 3; done; shift; exec "$@"';
  const args = binds.flatMap((b) => [b.source, b.target, b.readOnly ? "ro" : "rw"]);
  return [...support.argv, "--", "sh", "-c", script, "sh", ...args, "--", ...argv];
}
