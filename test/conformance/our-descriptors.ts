/**
 * Our schema as a FileDescriptorSet, built by buf from `proto/` (the same
 * input `npm run generate` feeds to ts-proto), for the conformance tests.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

/** Runs `buf build` on `proto/` and returns the serialized FileDescriptorSet (imports included, no source info). */
export function buildOurDescriptorSet(): Uint8Array {
  const dir = mkdtempSync(path.join(tmpdir(), "armada-conformance-"));
  try {
    const out = path.join(dir, "ours.binpb");
    execFileSync(
      path.join(root, "node_modules", ".bin", "buf"),
      ["build", "--as-file-descriptor-set", "--exclude-source-info", "-o", out],
      { cwd: root, stdio: "pipe" },
    );
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
