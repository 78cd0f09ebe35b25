import { recordLine } from './audit-hash.js';
import { type AuditRecord } from './audit-record.js';

/** Where settled tickets are written: the log file. */
export interface TicketSink {
  /** Why nothing may be written now (the file is broken), or null. */
  broken(): Error | null;
  /** Writes the lines of one or more settled tickets at once (one write, one fsync). */
  writeLines(lines: string, lastId: number): Promise<void>;
  /** A write failed: breaks the sink and answers the error the waiters get. */
  failed(error: unknown): Error;
}

interface Slot {
  lines: string | null; // null: reserved, not settled yet
  abandoned: boolean;
  lastId: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Places in the log file. Writers reserve a ticket while they hold the chain-head lock (so
 * tickets follow id order) and settle it after commit; lines are written in ticket order,
 * whatever order the commits settle in, and each waiter resolves once its lines are on disk.
 */
export class LogTickets {
  private nextTicket = 0;
  private nextToWrite = 0;
  private readonly slots = new Map<number, Slot>();
  private flushing = false;

  constructor(private readonly sink: TicketSink) {}

  reserve(): number {
    const broken = this.sink.broken();
    if (broken) throw broken;
    const ticket = this.nextTicket++;
    this.slots.set(ticket, {
      lines: null,
      abandoned: false,
      lastId: 0,
      resolve: () => undefined,
      reject: () => undefined,
    });
    return ticket;
  }

  write(ticket: number, records: AuditRecord[]): Promise<void> {
    const slot = this.slots.get(ticket);
    if (!slot) return Promise.reject(new Error(`unknown audit log ticket ${ticket}`));
    return new Promise<void>((resolve, reject) => {
      slot.lines = records.map((r) => recordLine(r) + '\n').join('');
      slot.lastId = records.length ? records[records.length - 1].id : 0;
      slot.resolve = resolve;
      slot.reject = reject;
      void this.flush();
    });
  }

  /** The ticket was reserved and is not written yet. */
  pending(ticket: number): boolean {
    return this.slots.has(ticket);
  }

  abandon(ticket: number): void {
    const slot = this.slots.get(ticket);
    if (!slot) return;
    slot.abandoned = true;
    slot.lines = '';
    void this.flush();
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        // Gather every consecutive settled slot: one write and one fsync for all of them.
        const ready: Slot[] = [];
        let lines = '';
        let lastId = 0;
        for (let t = this.nextToWrite; this.slots.get(t)?.lines != null; t++) {
          const slot = this.slots.get(t)!;
          ready.push(slot);
          lines += slot.lines;
          if (!slot.abandoned && slot.lastId) lastId = slot.lastId;
        }
        if (ready.length === 0) return;
        for (let i = 0; i < ready.length; i++) this.slots.delete(this.nextToWrite + i);
        this.nextToWrite += ready.length;
        try {
          const broken = this.sink.broken();
          if (broken) throw broken;
          if (lines) await this.sink.writeLines(lines, lastId);
          for (const slot of ready) slot.resolve();
        } catch (error) {
          const failure = this.sink.failed(error);
          for (const slot of ready) slot.reject(failure);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
