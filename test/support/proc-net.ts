import fs from 'node:fs';

/** A listening TCP socket as /proc/net/tcp{,6} shows it. */
export interface ListeningSocket {
  address: string;
  port: number;
  inode: string;
}

const LISTEN = '0A';

/** Every listening TCP socket on the host (what any local user can read). */
export function listeningSockets(): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== LISTEN) continue;
      const [address, port] = fields[1].split(':');
      sockets.push({ address, port: parseInt(port, 16), inode: fields[9] });
    }
  }
  return sockets;
}

/** Inodes of the sockets process `pid` holds open (needs the right to read its /proc/<pid>/fd). */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes; // exited
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The listening TCP sockets of process `pid` right now. */
export function listeningSocketsOf(pid: number): ListeningSocket[] {
  const inodes = socketInodes(pid);
  return listeningSockets().filter((s) => inodes.has(s.inode));
}

/** The TCP ports process `pid` listens on right now. */
export function listeningPortsOf(pid: number): number[] {
  const ports = listeningSocketsOf(pid).map((s) => s.port);
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** /proc/net/tcp{,6} addresses: 127.0.0.1 is 0100007F (little-endian words), :: all zeros. */
export const PROC_ADDRESS = {
  ipv4Loopback: '0100007F',
  ipv4Any: '00000000',
  ipv6Loopback: '00000000000000000000000001000000',
  ipv6Any: '00000000000000000000000000000000',
};
