import fs from 'node:fs';
import readline from 'node:readline';

/** One line of a log file, with the id its record claims (null when the line is not a record). */
export interface LogLine {
  id: number | null;
  text: string;
  file: string;
  lineNumber: number;
}

/** Reads log files line by line, in order, without holding them in memory. */
export async function* readLogLines(files: string[]): AsyncGenerator<LogLine> {
  for (const file of files) {
    const stream = fs.createReadStream(file, { encoding: 'utf8' });
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    let lineNumber = 0;
    try {
      for await (const text of lines) {
        lineNumber++;
        if (text === '') continue;
        yield { id: idOf(text), text, file, lineNumber };
      }
    } finally {
      lines.close();
      stream.destroy();
    }
  }
}

/** A canonical line names its id right after its hash: read it without parsing the line. */
const CANONICAL_ID = /"hash":"[0-9a-f]{64}","id":(\d{1,15}),"ip":/;

function idOf(text: string): number | null {
  const fast = CANONICAL_ID.exec(text);
  if (fast) return Number(fast[1]);
  try {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
  } catch {
    return null;
  }
}

/** Lets a reader look at the next line before taking it. */
export class PeekableLines {
  private buffered: LogLine | null | undefined;

  constructor(private readonly source: AsyncGenerator<LogLine>) {}

  async peek(): Promise<LogLine | null> {
    if (this.buffered === undefined) {
      const next = await this.source.next();
      this.buffered = next.done ? null : next.value;
    }
    return this.buffered;
  }

  async take(): Promise<LogLine | null> {
    const line = await this.peek();
    this.buffered = undefined;
    return line;
  }

  async close(): Promise<void> {
    await this.source.return(undefined);
  }
}
