// What an ELF executable or library needs from the machine that runs it: its shared libraries (DT_NEEDED)
// and the symbol versions it requires of them (.gnu.version_r, e.g. GLIBC_2.17). Read straight from the
// file, so the package test does not depend on binutils being installed. ELF64 little-endian only: the
// package is x86_64, and anything else in it is reported as a problem by checkMachineFloor().
import { readFileSync } from "node:fs";
import { compareVersions } from "../src/shared/versions.ts";

export interface ElfNeeds {
  /** e_machine (62 = x86-64). */
  machine: number;
  /** Shared libraries it links against. */
  needed: string[];
  /** Required symbol versions per library, e.g. { "libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.17"] }. */
  versions: Record<string, string[]>;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const SHT_DYNAMIC = 6;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
const EM_X86_64 = 62;

export function isElf(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.subarray(0, 4).equals(ELF_MAGIC);
}

interface Section {
  type: number;
  offset: number;
  size: number;
  link: number;
}

function cString(bytes: Buffer, at: number): string {
  const end = bytes.indexOf(0, at);
  return bytes.toString("latin1", at, end < 0 ? bytes.length : end);
}

export function readElfNeeds(bytes: Buffer): ElfNeeds {
  if (!isElf(bytes)) throw new Error("not an ELF file");
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error(`not a 64-bit little-endian ELF file (class ${bytes[4]}, data ${bytes[5]})`);
  const machine = bytes.readUInt16LE(18);
  const shoff = Number(bytes.readBigUInt64LE(40));
  const shentsize = bytes.readUInt16LE(58);
  const shnum = bytes.readUInt16LE(60);
  const sections: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    sections.push({
      type: bytes.readUInt32LE(at + 4),
      offset: Number(bytes.readBigUInt64LE(at + 24)),
      size: Number(bytes.readBigUInt64LE(at + 32)),
      link: bytes.readUInt32LE(at + 40),
    });
  }
  const stringsOf = (section: Section) => sections[section.link]!.offset;

  const needed: string[] = [];
  for (const dynamic of sections.filter((s) => s.type === SHT_DYNAMIC)) {
    for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
      const tag = bytes.readBigInt64LE(at);
      if (tag === 0n) break;
      if (tag === BigInt(DT_NEEDED)) needed.push(cString(bytes, stringsOf(dynamic) + Number(bytes.readBigUInt64LE(at + 8))));
    }
  }

  const versions: Record<string, string[]> = {};
  for (const verneed of sections.filter((s) => s.type === SHT_GNU_VERNEED)) {
    const strings = stringsOf(verneed);
    let entry = verneed.offset;
    for (;;) {
      const count = bytes.readUInt16LE(entry + 2);
      const file = cString(bytes, strings + bytes.readUInt32LE(entry + 4));
      const list = (versions[file] ??= []);
      let aux = entry + bytes.readUInt32LE(entry + 8);
      for (let i = 0; i < count; i++) {
        list.push(cString(bytes, strings + bytes.readUInt32LE(aux + 8)));
        const nextAux = bytes.readUInt32LE(aux + 12);
        if (nextAux === 0) break;
        aux += nextAux;
      }
      const next = bytes.readUInt32LE(entry + 12);
      if (next === 0) break;
      entry += next;
    }
  }
  return { machine, needed, versions };
}

/** The oldest machine the handler supports: RHEL/CentOS 7 (glibc 2.17, libstdc++ of GCC 4.8.5). */
export const MACHINE_FLOOR = {
  glibc: "2.17",
  glibcxx: "3.4.19",
  /** Libraries every supported machine has in its base install. */
  libraries: ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libstdc++.so.6"],
} as const;

/** Every reason the file would not start on the oldest supported machine; empty when it would. */
export function checkMachineFloor(path: string): string[] {
  const needs = readElfNeeds(readFileSync(path));
  const problems: string[] = [];
  if (needs.machine !== EM_X86_64) problems.push(`machine type ${needs.machine} is not x86-64`);
  for (const library of needs.needed) {
    if (!(MACHINE_FLOOR.libraries as readonly string[]).includes(library)) problems.push(`needs ${library}, which the oldest supported machine may lack`);
  }
  for (const version of Object.values(needs.versions).flat()) {
    const glibc = /^GLIBC_(\d+(?:\.\d+)*)$/.exec(version)?.[1];
    if (glibc && compareVersions(glibc, MACHINE_FLOOR.glibc) > 0) problems.push(`needs ${version} (newer than glibc ${MACHINE_FLOOR.glibc})`);
    const glibcxx = /^GLIBCXX_(\d+(?:\.\d+)*)$/.exec(version)?.[1];
    if (glibcxx && compareVersions(glibcxx, MACHINE_FLOOR.glibcxx) > 0)
      problems.push(`needs ${version} (newer than RHEL 7's libstdc++, GLIBCXX_${MACHINE_FLOOR.glibcxx})`);
  }
  return problems;
}
