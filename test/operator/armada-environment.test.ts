import { describe, expect, it } from "vitest";
import { armadaEnvironment } from "../../src/operator/armada-environment.js";

describe("armadaEnvironment", () => {
  it("reads a real Armada from the environment", async () => {
    const e = await armadaEnvironment({
      env: { ARMADA_TARGET: "armada.example.com:50051", ARMADA_QUEUE: "ml", ARMADA_LOOKOUT_URL: "https://lookout.example.com/" },
    });
    expect(e.embedded).toBe(false);
    expect(e.channelArgs.target).toBe("armada.example.com:50051");
    expect(e.channelArgs.secure).toBe(false);
    expect(e.armadaQueue).toBe("ml");
    expect(e.lookoutUrlTemplate).toBe("https://lookout.example.com/jobs/<job_id>");
    expect(e.kubeConfig).toBeUndefined();
  });

  it("keeps a full lookout template, and a token env var means bearer auth over TLS", async () => {
    const e = await armadaEnvironment({
      env: {
        ARMADA_TARGET: "armada.example.com:443",
        ARMADA_LOOKOUT_URL: "https://l/job?id=<job_id>",
        ARMADA_TOKEN_ENV: "MY_TOKEN",
        MY_TOKEN: "secret-value",
      },
    });
    expect(e.lookoutUrlTemplate).toBe("https://l/job?id=<job_id>");
    expect(e.channelArgs.secure).toBe(true);
    expect(JSON.stringify(e.channelArgs.serialize())).not.toContain("secret-value");
    expect(e.armadaQueue).toBe("default");
  });

  it("rejects a bad target naming the variable's field", async () => {
    await expect(armadaEnvironment({ env: { ARMADA_TARGET: "not a target" } })).rejects.toThrow(/target/);
  });
});
