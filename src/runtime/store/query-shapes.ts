import { CompiledQuery, type Compilable } from "kysely";
import { RuntimeError } from "../errors.js";

/** Stands for a named value while a shape is compiled; never a real value (it starts with NUL). */
const MARK = "\u0000armada-airflow-param:";

/** Names a value of a query shape: `where("dag_id", "=", p("dagId"))`. Typed `never` so it fits any column. */
export type Param = (name: string) => never;

interface Shape {
  sql: string;
  /** Each parameter of the SQL in order: a named value, or a constant of the shape. */
  slots: ({ name: string } | { value: unknown })[];
}

/**
 * Compiles each query shape once. Building a Kysely query and compiling it
 * costs about 20 µs, ten times what SQLite takes to run a keyed statement,
 * and the runtime's hot path (a transition, an XCom, a task instance read)
 * runs the same few shapes for every task instance. A shape is built with
 * {@link Param} placeholders, compiled by the store's own dialect, and kept
 * under a key that must name everything that changes its SQL (which columns
 * a patch sets, how many values an `in` list holds); later calls only put
 * their values in place.
 */
export class QueryShapes {
  private readonly shapes = new Map<string, Shape>();

  /** The compiled query of shape `key` (built by `build` the first time) with `values` in place. */
  compiled<R>(key: string, build: (p: Param) => Compilable<R>, values: object): CompiledQuery<R> {
    let shape = this.shapes.get(key);
    if (!shape) {
      const c = build(((name: string) => MARK + name) as Param).compile();
      shape = {
        sql: c.sql,
        slots: c.parameters.map((v) =>
          typeof v === "string" && v.startsWith(MARK) ? { name: v.slice(MARK.length) } : { value: v },
        ),
      };
      this.shapes.set(key, shape);
    }
    const parameters = shape.slots.map((s) => {
      if (!("name" in s)) return s.value;
      const v = (values as Record<string, unknown>)[s.name];
      // A programming error (the shape names a value the call does not give), caught by the store's tests.
      if (v === undefined) throw new RuntimeError("store", `query shape ${key}: no value for ${s.name}`);
      return v;
    });
    return CompiledQuery.raw(shape.sql, parameters) as CompiledQuery<R>;
  }
}
