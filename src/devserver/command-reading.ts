/**
 * What simulate mode can know for sure about a container's command. It reads
 * plain top-level `echo`, `sleep`, `exit`, `true`/`false` (and `:`) joined by
 * `;`, newlines, `&&` and `||` — every one of those has a known exit status,
 * so such a list is evaluated exactly as a shell would. It also recognises
 * the obvious unbounded allocators (`tail /dev/zero`, `dd` from `/dev/zero`
 * into `/dev/shm`), which Kubernetes ends with an OOM kill. Anything else —
 * `if`, loops, functions, pipes, redirections, variables, substitutions, or
 * a command it does not know — makes the whole command "not interpreted"
 * rather than half-read: no step of it is simulated.
 */
import type { Container } from "../gen/k8s.io/api/core/v1/generated.js";

/** One simple command simulate mode understands. */
export type SimpleCommand =
  | { kind: "echo"; text: string }
  | { kind: "sleep"; ms: number }
  | { kind: "exit"; code?: number }
  | { kind: "status"; code: number }
  /** Allocates memory: `bytes` of it (Infinity: without bound). */
  | { kind: "allocate"; bytes: number };

/** How two commands are joined. */
export type Connector = ";" | "&&" | "||";

/** A command with the connector that joins it to the one before (";" for the first). */
export interface ListItem {
  after: Connector;
  command: SimpleCommand;
}

/** The reading of a container's command. */
export type CommandReading = { interpreted: true; list: ListItem[] } | { interpreted: false; why: string };

const SHELLS = new Set(["sh", "bash", "dash", "ash", "zsh", "ksh"]);
const KEYWORDS = new Set([
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "for",
  "while",
  "until",
  "do",
  "done",
  "case",
  "esac",
  "function",
  "select",
  "{",
  "}",
  "[[",
  "!",
]);

function basename(word: string): string {
  return word.slice(word.lastIndexOf("/") + 1);
}

type Token = { word: string } | { op: Connector };

/** Splits a script into words and connectors; undefined (with why) on shell syntax it does not read. */
function tokenize(script: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  let word: string | undefined;
  const endWord = () => {
    if (word !== undefined) tokens.push({ word });
    word = undefined;
  };
  while (i < script.length) {
    const ch = script[i];
    if (ch === " " || ch === "\t") {
      endWord();
      i++;
    } else if (ch === "\n" || ch === ";") {
      if (ch === ";" && script[i + 1] === ";") return "it uses ';;' (a case statement)";
      endWord();
      tokens.push({ op: ";" });
      i++;
    } else if (ch === "&" || ch === "|") {
      if (script[i + 1] !== ch)
        return ch === "&" ? "it runs a command in the background (&)" : "it uses a pipe (|)";
      endWord();
      tokens.push({ op: ch === "&" ? "&&" : "||" });
      i += 2;
    } else if (ch === "#" && word === undefined) {
      while (i < script.length && script[i] !== "\n") i++;
    } else if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) return "it has an unterminated quote";
      word = (word ?? "") + script.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      const end = script.indexOf('"', i + 1);
      if (end < 0) return "it has an unterminated quote";
      const inner = script.slice(i + 1, end);
      if (/[$`\\]/.test(inner)) return "it expands variables or commands ($, `, \\)";
      word = (word ?? "") + inner;
      i = end + 1;
    } else if ("$`\\".includes(ch)) {
      return "it expands variables or commands ($, `, \\)";
    } else if ("<>".includes(ch)) {
      return "it redirects input or output (<, >)";
    } else if ("()".includes(ch)) {
      return "it uses a subshell or a function definition ( ( ) )";
    } else if ("*?[".includes(ch)) {
      return "it uses a glob pattern (*, ?, [)";
    } else if (
      ch === "=" &&
      word !== undefined &&
      tokens.length >= 0 &&
      isFirstWord(tokens) &&
      /^[A-Za-z_]\w*$/.test(word)
    ) {
      return "it assigns a variable";
    } else {
      word = (word ?? "") + ch;
      i++;
    }
  }
  endWord();
  return tokens;
}

function isFirstWord(tokens: Token[]): boolean {
  const last = tokens[tokens.length - 1];
  return last === undefined || "op" in last;
}

const SLEEP_UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DD_UNIT: Record<string, number> = {
  "": 1,
  c: 1,
  w: 2,
  b: 512,
  K: 1024,
  k: 1024,
  KB: 1000,
  kB: 1000,
  M: 1024 ** 2,
  MB: 1e6,
  G: 1024 ** 3,
  GB: 1e9,
};

/** One simple command, or why it is not understood. */
function simpleCommand(words: string[]): SimpleCommand | string {
  const [first, ...args] = words;
  const name = basename(first);
  if (KEYWORDS.has(first)) return `it uses shell control flow ('${first}')`;
  switch (name) {
    case "echo": {
      if (args[0]?.startsWith("-") && args[0] !== "-n") return `it passes option ${args[0]} to echo`;
      return { kind: "echo", text: (args[0] === "-n" ? args.slice(1) : args).join(" ") };
    }
    case "sleep": {
      const m = args.length === 1 ? /^(\d+(?:\.\d+)?)([smhd])?$/.exec(args[0]) : null;
      if (!m) return `'sleep ${args.join(" ")}' is not a plain 'sleep N'`;
      return { kind: "sleep", ms: Number(m[1]) * SLEEP_UNIT[m[2] ?? "s"] };
    }
    case "exit": {
      if (args.length === 0) return { kind: "exit" };
      if (args.length === 1 && /^\d+$/.test(args[0])) return { kind: "exit", code: Number(args[0]) % 256 };
      return `'exit ${args.join(" ")}' is not a plain 'exit N'`;
    }
    case "true":
    case ":":
      return { kind: "status", code: 0 };
    case "false":
      return { kind: "status", code: 1 };
    case "tail":
      // tail keeps the last lines of /dev/zero, which has no newline: its buffer grows without bound.
      if (args.length > 0 && args[args.length - 1] === "/dev/zero")
        return { kind: "allocate", bytes: Infinity };
      return `it runs tail on something other than /dev/zero`;
    case "dd": {
      const kv = new Map(args.map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]));
      const bs = /^(\d+)([a-zA-Z]*)$/.exec(kv.get("bs") ?? "512");
      const count = kv.get("count");
      if (
        kv.get("if") !== "/dev/zero" ||
        !bs ||
        DD_UNIT[bs[2]] === undefined ||
        (count && !/^\d+$/.test(count))
      ) {
        return "it runs a dd other than 'dd if=/dev/zero of=FILE bs=SIZE count=N'";
      }
      const total = count ? Number(bs[1]) * DD_UNIT[bs[2]] * Number(count) : Infinity;
      // Files in /dev/shm are memory (tmpfs) and count against the container's memory limit.
      return { kind: "allocate", bytes: (kv.get("of") ?? "").startsWith("/dev/shm/") ? total : 0 };
    }
    default:
      return `simulate mode does not run '${name}'`;
  }
}

/** The script a container runs: `sh -c SCRIPT` gives SCRIPT; any other command is one simple command. */
export function readCommand(container: Pick<Container, "command" | "args">): CommandReading {
  const argv = [...container.command, ...container.args];
  if (argv.length === 0)
    return { interpreted: false, why: "the container has no command (the image's entrypoint runs)" };
  let tokens: Token[] | string;
  if (SHELLS.has(basename(argv[0]))) {
    const c = argv.findIndex((a, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(a));
    if (c < 0 || c + 1 >= argv.length)
      return { interpreted: false, why: `${argv[0]} runs a script file, not -c` };
    tokens = tokenize(argv[c + 1]);
  } else {
    tokens = argv.map((word) => ({ word }));
  }
  if (typeof tokens === "string") return { interpreted: false, why: tokens };
  const list: ListItem[] = [];
  let words: string[] = [];
  let after: Connector = ";";
  const flush = (next: Connector): string | undefined => {
    if (words.length === 0) {
      // A newline may follow && or ||; an operator with nothing before it is a syntax error.
      return next === ";" ? undefined : `it has '${next}' with no command before it`;
    }
    const cmd = simpleCommand(words);
    if (typeof cmd === "string") return cmd;
    list.push({ after, command: cmd });
    words = [];
    after = next;
    return undefined;
  };
  for (const t of tokens) {
    if ("word" in t) {
      words.push(t.word);
      continue;
    }
    const why = flush(t.op);
    if (why) return { interpreted: false, why };
  }
  const why = flush(";");
  if (why) return { interpreted: false, why };
  return { interpreted: true, list };
}
