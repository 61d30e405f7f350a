/**
 * The shared shape of the bad-input suite: each surface (operator options
 * and job request, templates, DAG definitions, CLI, client, raw gRPC) is a
 * table of malformed inputs, each naming the field or flag its refusal must
 * name and a fragment of the fix. The surface's test file runs every case
 * and also asserts that nothing was submitted and nothing stored.
 */
import { expect } from "vitest";

/** One malformed input. */
export interface BadInput<I> {
  /** Unique within its table; the test's name. */
  name: string;
  input: I;
  /** The field, option, flag or setting the error must name, as it appears in the message. */
  field: string;
  /** A fragment the message must contain: the rule broken or the fix. */
  says: RegExp;
}

/** The surfaces of the suite. */
export type Surface =
  | "job request (operator)"
  | "operator options"
  | "templates"
  | "DAG definitions"
  | "CLI flags and config"
  | "client channel args and auth"
  | "raw gRPC to the dev server";

/** A named table; names are checked unique so each case is one test. */
export interface BadInputTable<I> {
  surface: Surface;
  cases: BadInput<I>[];
}

/** Builds a table, refusing duplicate names (a copy-paste slip would hide a case). */
export function badInputTable<I>(surface: Surface, cases: BadInput<I>[]): BadInputTable<I> {
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`${surface}: two cases named "${c.name}"`);
    seen.add(c.name);
  }
  return { surface, cases };
}

/** `[name, case]` pairs for `it.each`. */
export function each<I>(table: BadInputTable<I>): [string, BadInput<I>][] {
  return table.cases.map((c) => [c.name, c]);
}

/** The message of what `fn` threw or rejected with; fails the test when it succeeded. */
export async function refusal(fn: () => unknown): Promise<Error> {
  let thrown: unknown;
  let threw = false;
  try {
    await fn();
  } catch (e) {
    thrown = e;
    threw = true;
  }
  expect(threw, "expected the input to be refused").toBe(true);
  expect(thrown).toBeInstanceOf(Error);
  return thrown as Error;
}

/** Asserts `message` names the case's field and says what its rule is. */
export function expectNamesField(message: string, c: BadInput<unknown>): void {
  expect(message, `the message should name ${c.field}`).toContain(c.field);
  expect(message).toMatch(c.says);
  // An expected refusal explains itself; a crash of our own code would show as one of these.
  expect(message).not.toMatch(/Cannot read properties of|is not a function|undefined is not/);
}
