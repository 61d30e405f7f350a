// Fails when src/gen/ differs from what `npm run generate` makes of proto/.
// Regenerates in place, then asks git whether anything under src/gen changed.
import { execFileSync } from "node:child_process";

execFileSync("npm", ["run", "--silent", "generate"], { stdio: "inherit" });
const changed = execFileSync("git", ["status", "--porcelain", "--", "src/gen"], { encoding: "utf8" }).trim();
if (changed) {
  console.error(
    "src/gen/ is out of date with proto/. Run `npm run generate` and commit the result:\n" + changed,
  );
  process.exit(1);
}
console.log("src/gen/ is up to date with proto/.");
