// Why a file the config names could not be read, in a few words, said the same way by the config
// loader, `rampart validate` and every module that reads a certificate, key or CA file.

/** "no such file", "permission denied", "it is a directory", else the error's own words. */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}
