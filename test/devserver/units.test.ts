import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Container } from "../../src/gen/k8s.io/api/core/v1/generated.js";
import { EventLog, UnknownMessageIdError } from "../../src/devserver/event-log.js";
import { JobIdFactory } from "../../src/devserver/ids.js";
import { MinHeap } from "../../src/devserver/min-heap.js";
import { bytes, cpuMillis } from "../../src/devserver/quantity.js";
import { parseDuration } from "../../src/devserver/simulate-executor.js";
import { readCommand } from "../../src/devserver/command-reading.js";
import { rfc3339Nano } from "../../src/devserver/pod-logs.js";
import { invalidImageReason } from "../../src/devserver/image-reference.js";

describe("dev server building blocks", () => {
  it("parses Kubernetes quantities", () => {
    expect(cpuMillis("500m")).toBe(500);
    expect(cpuMillis("1.5")).toBe(1500);
    expect(cpuMillis("2")).toBe(2000);
    expect(bytes("1Gi")).toBe(2 ** 30);
    expect(bytes("128M")).toBe(128e6);
    expect(bytes("1e3")).toBe(1000);
    expect(() => cpuMillis("lots")).toThrow(/"lots" is not a Kubernetes quantity/);
  });

  it("reads plain echo, sleep, exit, true and false joined by ; && || from a container command", () => {
    const c = Container.fromPartial({
      command: ["sh", "-c"],
      args: ["echo 'a b' && sleep 1.5; echo \"c\"\nfalse || exit 3; echo never"],
    });
    expect(readCommand(c)).toEqual({
      interpreted: true,
      list: [
        { after: ";", command: { kind: "echo", text: "a b" } },
        { after: "&&", command: { kind: "sleep", ms: 1500 } },
        { after: ";", command: { kind: "echo", text: "c" } },
        { after: ";", command: { kind: "status", code: 1 } },
        { after: "||", command: { kind: "exit", code: 3 } },
        { after: ";", command: { kind: "echo", text: "never" } },
      ],
    });
    expect(readCommand(Container.fromPartial({ command: ["sleep", "2m"] }))).toEqual({
      interpreted: true,
      list: [{ after: ";", command: { kind: "sleep", ms: 120_000 } }],
    });
    expect(parseDuration("1500ms")).toBe(1500);
    expect(parseDuration("30")).toBe(30_000);
    expect(() => parseDuration("soon")).toThrow(/not a duration/);
  });

  it("does not half-read a command with control flow, pipes, variables or unknown programs", () => {
    const why = (script: string) => {
      const r = readCommand(Container.fromPartial({ command: ["sh", "-c", script] }));
      return r.interpreted ? "interpreted" : r.why;
    };
    expect(why("if true; then exit 1; fi")).toMatch(/control flow \('if'\)/);
    expect(why("for i in 1 2; do echo x; done")).toMatch(/control flow \('for'\)/);
    expect(why("while true; do sleep 1; done")).toMatch(/control flow \('while'\)/);
    expect(why("f() { exit 2; }; f")).toMatch(/subshell or a function/);
    expect(why("echo hi | grep h")).toMatch(/pipe/);
    expect(why('echo "$HOME"')).toMatch(/expands variables/);
    expect(why("echo hi > /tmp/x")).toMatch(/redirects/);
    expect(why("X=1 echo hi")).toMatch(/assigns a variable/);
    expect(why("python train.py")).toMatch(/does not run 'python'/);
    expect(why("&& echo hi")).toMatch(/'&&' with no command before it/);
    expect(readCommand(Container.fromPartial({ command: ["python", "-c", "print(1)"] }))).toEqual({
      interpreted: false,
      why: "simulate mode does not run 'python'",
    });
    expect(why("echo a &&\n  echo b")).toBe("interpreted");
    expect(why("tail /dev/zero")).toBe("interpreted");
  });

  it("makes unique lowercase ULIDs that sort in submission order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 200 }), (steps) => {
        const f = new JobIdFactory();
        let t = 1_700_000_000_000;
        const ids = steps.map((s) => f.next((t += s)));
        expect(ids.every((id) => /^[0-9a-hjkmnp-tv-z]{26}$/.test(id))).toBe(true);
        expect([...ids].sort()).toEqual(ids);
        expect(new Set(ids).size).toBe(ids.length);
      }),
    );
  });

  it("keeps a min-heap ordered", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (xs) => {
        const h = new MinHeap<number>((a, b) => a < b);
        for (const x of xs) h.push(x);
        const out: number[] = [];
        while (h.size > 0) out.push(h.pop()!);
        expect(out).toEqual([...xs].sort((a, b) => a - b));
      }),
    );
  });

  it("resumes an event log from any id it issued, and only from those", () => {
    const log = new EventLog();
    for (let i = 0; i < 5; i++) log.append("q", "s", { events: undefined });
    const all = log.after("q", "s", "");
    for (let i = 0; i < all.length; i++) expect(log.after("q", "s", all[i].id)).toEqual(all.slice(i + 1));
    expect(() => log.after("q", "s", "99-0")).toThrow(UnknownMessageIdError);
    expect(log.after("q", "other", "")).toEqual([]);
  });

  it("accepts the image references a kubelet accepts", () => {
    for (const ok of [
      "busybox",
      "busybox:1.36",
      "library/busybox:latest",
      "ghcr.io/org/app:v1.2.3",
      "localhost:5000/x/y",
      `alpine@sha256:${"a".repeat(64)}`,
    ]) {
      expect(invalidImageReason("main", ok)).toBeUndefined();
    }
    for (const bad of ["", "Busybox", "busy box", "x::y", "a/b:"])
      expect(invalidImageReason("main", bad)).toMatch(/InvalidImageName/);
  });

  it("formats log timestamps as RFC 3339 with nanoseconds", () => {
    expect(rfc3339Nano(Date.UTC(2024, 0, 2, 3, 4, 5, 678))).toBe("2024-01-02T03:04:05.678000000Z");
  });
});
