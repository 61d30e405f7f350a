import { JOB_REQUEST_CASES, OPERATOR_OPTION_CASES } from "./test/bad-input/cases/operator.ts";
import { ArmadaOperator } from "./src/operator/armada-operator.ts";
import { jobRequestToJson, parseRenderedJobRequest } from "./src/operator/job-request.ts";
const names = process.argv.slice(2);
for (const c of JOB_REQUEST_CASES.cases.filter(c => names.some(n => c.name.includes(n)))) {
  try {
    const jr = c.input.options!.jobRequest as any;
    const src = typeof jr === "function" ? jr() : jr;
    const j = jobRequestToJson(src);
    parseRenderedJobRequest(j, j);
    console.log(c.name, "=> ACCEPTED");
  } catch (e) { console.log(c.name, "=>", (e as any).field, "|", (e as Error).message.slice(0, 300)); }
}
