// Reading and writing PEM certificate/key pairs on disk.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PemPair } from "../state/pem-pair.js";

export interface PemFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Reads both files; the error names the file that could not be read, the certificate's first when
 * neither can (whichever read failed first would make the message depend on timing).
 */
export async function readPemPair(files: PemFiles): Promise<PemPair> {
  const [cert, key] = await Promise.allSettled([readPem(files.certFile, "certificate"), readPem(files.keyFile, "private key")]);
  if (cert.status === "rejected") throw cert.reason;
  if (key.status === "rejected") throw key.reason;
  return { cert: cert.value, key: key.value };
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read ${what} file "${file}": ${describe(error)}`, { cause: error });
  }
}

/**
 * Stores `${dir}/${baseName}.crt` and `.key`. The key is private to the process owner (0600), and so is
 * the directory when it is created (0700): it also holds the ACME account key. Each file is written
 * aside and renamed into place so a reader never sees half a PEM block.
 */
export async function writePemPair(dir: string, baseName: string, pair: PemPair): Promise<PemFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { certFile: join(dir, `${baseName}.crt`), keyFile: join(dir, `${baseName}.key`) };
  await writeAtomically(files.keyFile, pair.key, 0o600);
  await writeAtomically(files.certFile, pair.cert, 0o644);
  return files;
}

async function writeAtomically(file: string, contents: string, mode: number): Promise<void> {
  const temporary = `${file}.${randomUUID()}.tmp`;
  try {
    // "wx": never follow or reuse a file planted at the temporary name.
    await writeFile(temporary, contents, { mode, flag: "wx" });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new Error(`cannot write "${file}": ${describe(error)}`, { cause: error });
  }
}

export function isMissingFile(error: unknown): boolean {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  return cause instanceof Error && "code" in cause && cause.code === "ENOENT";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
