// Checks a strikeguard proof (C2SP tlog-proof) with nothing but node:crypto: the checkpoint's
// Ed25519 signature under the log's verifier key, then the RFC 9162 inclusion of a record hash.
// Usage: node verify-inclusion.mjs <vkey> <file.tlog-proof> <record hash, 64 hex digits>
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
const [vkey, proofFile, recordHash] = process.argv.slice(2);
const sha = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();
const [name, id, key] = [...vkey.split('+').slice(0, 2), vkey.split('+').slice(2).join('+')];
const raw = Buffer.from(key, 'base64').subarray(1); // type byte 0x01, then the 32-byte key
const pub = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]),
  format: 'der',
  type: 'spki',
});
const all = readFileSync(proofFile, 'utf8');
const [head, note] = [all.slice(0, all.indexOf('\n\n')), all.slice(all.indexOf('\n\n') + 2)];
const split = note.lastIndexOf('\n\n');
const text = note.slice(0, split + 1);
const signed = note
  .slice(split + 2)
  .split('\n')
  .some((line) => {
    const sig = line.startsWith(`\u2014 ${name} `) && Buffer.from(line.split(' ')[2], 'base64');
    return (
      sig &&
      sig.subarray(0, 4).toString('hex') === id &&
      verify(null, Buffer.from(text), pub, sig.subarray(4))
    );
  });
if (!signed) throw new Error('the checkpoint is not signed by this key');
const [, size, root] = text.split('\n');
const lines = head.split('\n');
let index = BigInt(lines.find((l) => l.startsWith('index ')).slice(6));
let last = BigInt(size) - 1n;
let hash = sha(Buffer.of(0), Buffer.from(recordHash, 'hex'));
for (const p of lines
  .filter((l) => !/^(c2sp|index|extra)/.test(l))
  .map((l) => Buffer.from(l, 'base64'))) {
  if (index % 2n === 1n || index === last) {
    hash = sha(Buffer.of(1), p, hash);
    while (index % 2n === 0n && index !== 0n) [index, last] = [index >> 1n, last >> 1n];
  } else hash = sha(Buffer.of(1), hash, p);
  [index, last] = [index >> 1n, last >> 1n];
}
if (last !== 0n || hash.toString('base64') !== root)
  throw new Error('the record is not in the signed tree');
console.log(`ok: record ${recordHash.slice(0, 12)}… is in the log "${name}" of ${size} records`);
