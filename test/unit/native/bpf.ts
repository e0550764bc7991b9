/**
 * A classic-BPF interpreter for seccomp programs: the instruction set the kernel's
 * seccomp_check_filter accepts, run over a struct seccomp_data. Used to replay the filter that
 * libseccomp builds for ctspawn (harden.test.ts) for any (arch, nr) without loading it.
 */

export interface Insn { code: number; jt: number; jf: number; k: number }
export interface SeccompData { nr: number; arch: number; ip?: bigint; args?: bigint[] }

/** struct sock_filter[] as libseccomp's seccomp_export_bpf writes it (host byte order). */
export function parseBpf(buf: Buffer): Insn[] {
  if (buf.length === 0 || buf.length % 8 !== 0) throw new Error(`BPF program of ${buf.length} bytes`);
  const out: Insn[] = [];
  for (let o = 0; o < buf.length; o += 8) out.push({ code: buf.readUInt16LE(o), jt: buf[o + 2], jf: buf[o + 3], k: buf.readUInt32LE(o + 4) });
  return out;
}

/** struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]. */
function dataBytes(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeInt32LE(d.nr | 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.ip ?? 0n, 8);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(a, 16 + 8 * i));
  return b;
}

const BPF = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07 };

/** The program's 32-bit return value (SECCOMP_RET_*) for one syscall. Throws on anything the
 * kernel would refuse to load or on falling off the end. */
export function run(prog: Insn[], d: SeccompData): number {
  const data = dataBytes(d);
  const mem = new Uint32Array(16);
  let A = 0;
  let X = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc];
    const cls = code & 0x07;
    const src = code & 0x08 ? X : k; // BPF_X : BPF_K
    switch (cls) {
      case BPF.LD:
      case BPF.LDX: {
        const mode = code & 0xe0;
        let v: number;
        if (mode === 0x20 && cls === BPF.LD) { // BPF_ABS, only words at aligned offsets (seccomp)
          if ((code & 0x18) !== 0x00 || k % 4 !== 0 || k + 4 > data.length) throw new Error(`pc ${pc}: bad load ${code.toString(16)} k=${k}`);
          v = data.readUInt32LE(k);
        } else if (mode === 0x00) v = k; // BPF_IMM
        else if (mode === 0x60) v = mem[k & 15]; // BPF_MEM
        else if (mode === 0x80) v = data.length; // BPF_LEN
        else throw new Error(`pc ${pc}: load mode ${mode.toString(16)}`);
        if (cls === BPF.LD) A = v >>> 0;
        else X = v >>> 0;
        break;
      }
      case BPF.ST: mem[k & 15] = A; break;
      case BPF.STX: mem[k & 15] = X; break;
      case BPF.ALU: {
        const op = code & 0xf0;
        const s = src >>> 0;
        switch (op) {
          case 0x00: A = (A + s) >>> 0; break;
          case 0x10: A = (A - s) >>> 0; break;
          case 0x20: A = Math.imul(A, s) >>> 0; break;
          case 0x30: if (s === 0) return 0; A = Math.floor(A / s) >>> 0; break; // div by 0 ends the program
          case 0x40: A = (A | s) >>> 0; break;
          case 0x50: A = (A & s) >>> 0; break;
          case 0x60: A = s >= 32 ? 0 : (A << s) >>> 0; break;
          case 0x70: A = s >= 32 ? 0 : A >>> s; break;
          case 0x80: A = -A >>> 0; break;
          case 0x90: if (s === 0) return 0; A = (A % s) >>> 0; break;
          case 0xa0: A = (A ^ s) >>> 0; break;
          default: throw new Error(`pc ${pc}: alu op ${op.toString(16)}`);
        }
        break;
      }
      case BPF.JMP: {
        const op = code & 0xf0;
        const s = src >>> 0;
        if (op === 0x00) { pc += k; break; } // BPF_JA
        let c: boolean;
        if (op === 0x10) c = A === s; // JEQ
        else if (op === 0x20) c = A > s; // JGT
        else if (op === 0x30) c = A >= s; // JGE
        else if (op === 0x40) c = (A & s) !== 0; // JSET
        else throw new Error(`pc ${pc}: jump op ${op.toString(16)}`);
        pc += c ? jt : jf;
        break;
      }
      case BPF.RET: return ((code & 0x18) === 0x10 ? A : k) >>> 0; // BPF_A or BPF_K
      case BPF.MISC: if (code & 0x80) A = X; else X = A; break; // TXA : TAX
    }
    if (pc + 1 > prog.length) break;
  }
  throw new Error('fell off the end of the program');
}
