/**
 * Links shown beside a task: the Lookout page of its job, and extra links
 * either rendered from a template or found in the job's container logs.
 */

/** Extra links: name -> URL template string, or a RegExp matched against container log messages. */
export type ExtraLinks = Record<string, string | RegExp>;

/** The placeholder a Lookout URL template carries for the job id. */
export const JOB_ID_PLACEHOLDER = "<job_id>";

/** XCom key that holds the Lookout URL of the task's job. */
export const LOOKOUT_URL_XCOM_KEY = "armada_lookout_url";

/** The Lookout link: the template with every `<job_id>` replaced. */
export function lookoutUrl(template: string, jobId: string): string {
  return template.split(JOB_ID_PLACEHOLDER).join(jobId);
}

/** ` Job details available at <url>`, the end of the operator's job lines; "" without a link. */
export function jobDetailsSuffix(url: string | undefined): string {
  return url ? ` Job details available at ${url}` : "";
}

/** XCom key under which the extra link `name` is stored: `armada_<name lowercased>_url`. */
export function linkXComKey(name: string): string {
  return `armada_${name.toLowerCase()}_url`;
}

/** Receives each link found in the logs, once per link name. */
export type LinkSink = (name: string, url: string) => void | Promise<void>;

/**
 * Finds the regex extra links in container log messages. For each link the
 * first match wins (the whole match is the URL); later messages are not
 * searched for a link already found, including one found by an earlier try
 * or before a deferral (pass those in `alreadyFound`).
 */
export class UrlFromLogsExtractor {
  private readonly pending: Map<string, RegExp>;

  constructor(
    links: ExtraLinks,
    private readonly sink: LinkSink,
    alreadyFound: Iterable<string> = [],
  ) {
    const found = new Set([...alreadyFound].map((n) => n.toLowerCase()));
    this.pending = new Map(
      Object.entries(links).filter(
        (entry): entry is [string, RegExp] =>
          entry[1] instanceof RegExp && !found.has(entry[0].toLowerCase()),
      ),
    );
  }

  /** True when no regex link is left to look for. */
  get done(): boolean {
    return this.pending.size === 0;
  }

  /** Searches one log message; stores every link it finds for the first time. */
  async extract(message: string): Promise<void> {
    for (const [name, pattern] of [...this.pending]) {
      // A global or sticky RegExp keeps lastIndex between calls; a fresh copy
      // makes each message searched from its start.
      const match = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, "")).exec(message);
      if (match) {
        this.pending.delete(name);
        await this.sink(name, match[0]);
      }
    }
  }
}
