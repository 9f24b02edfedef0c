// The value types the schema is built from (durations, sizes, addresses, hosts, header edits...), each
// with its parsing and its message, so schema.ts reads as the shape of the configuration.
import { isIP } from "node:net";
import { z } from "zod";
import { parseDuration, parseSize } from "./units.js";

// Defaults of these transformed types are given in YAML units with .prefault(), which runs them through
// the transform; .default() would hand the raw "5s" string to the gateway as if it were milliseconds.
// A bare number is refused with a hint rather than guessed: `10` could mean milliseconds or seconds.
const durationText = z.string({ error: (issue) => unitHint(issue.input, "a duration with a unit, such as 10s or 5m") });
export const duration = durationText.transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not a duration (e.g. 250ms, 10s, 5m, 1h, 7d)` });
    return z.NEVER;
  }
  return ms;
});

// Numbers are bytes, as the unit-less string "1048576" already was; YAML hands `maxBodySize: 1048576` over as a number.
const sizeValue = z.union([z.number(), z.string()], { error: (issue) => unitHint(issue.input, "a size such as 16KiB or 10MiB") });
export const size = sizeValue.transform((value, ctx) => {
  const text = String(value);
  const bytes = parseSize(text);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not a size (e.g. 16KiB, 10MiB)` });
    return z.NEVER;
  }
  return bytes;
});

// Not z.number().int(): zod marks a non-integer as final for the whole parse, which would skip the
// cross-reference checks at the bottom and hide those problems until this one is fixed.
export function wholeNumber() {
  return z.number().refine(Number.isInteger, { error: (issue) => `expected a whole number (got ${String(issue.input)})` });
}

/** undefined for a missing key, so the loader's "missing required key" wins. */
function unitHint(input: unknown, expected: string): string | undefined {
  return input === undefined ? undefined : `expected ${expected} (got ${JSON.stringify(input)})`;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** "0.0.0.0:8080", "[::1]:8443" or ":8080" (all interfaces). Port 0 asks the OS for a free port. */
export const listenAddress = z.string().transform((text, ctx): ListenAddress => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2] ?? "";
  const port = Number(match?.[3]);
  if (!match || port > 65_535 || (host !== "" && host !== "localhost" && isIP(host) === 0)) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not an address such as 0.0.0.0:8080 or [::1]:8443` });
    return z.NEVER;
  }
  return { host: host === "" ? "0.0.0.0" : host, port };
});

export const cidr = z.string().refine(
  (text) => {
    const [address, prefix, extra] = text.split("/");
    const family = isIP(address ?? "");
    if (family === 0 || extra !== undefined) return false;
    if (prefix === undefined) return true;
    const bits = Number(prefix);
    return /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
  },
  { message: "expected an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32" },
);

export const httpMethod = z
  .string()
  .regex(/^[A-Z]+$/, "expected an upper-case HTTP method such as GET");

/** Status ranges such as "200-399" or a single "200", parsed to inclusive bounds. */
export const statusRange = z
  .union([wholeNumber(), z.string()])
  .transform((value, ctx): { readonly min: number; readonly max: number } => {
    const match = /^(\d{3})(?:-(\d{3}))?$/.exec(String(value));
    const min = Number(match?.[1]);
    const max = Number(match?.[2] ?? match?.[1]);
    if (!match || min < 100 || max > 599 || min > max) {
      ctx.addIssue({ code: "custom", message: `"${value}" is not a status or status range such as 200-399` });
      return z.NEVER;
    }
    return { min, max };
  });

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not a valid header name");
export const headerEdits = z
  .strictObject({
    set: z.record(headerName, z.string()).default({}),
    remove: z.array(headerName).default([]),
  })
  .prefault({});

export const hostPattern = z
  .string()
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$|^\[[0-9a-f:.]+\]$/i,
    "expected a host such as api.example.com or *.example.com",
  )
  .transform((host) => host.toLowerCase());

export const pathPrefix = z
  .string()
  .regex(/^\/[^?#\s]*$/, "expected a path starting with / (no query, no spaces)")
  .transform((path) => (path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path));

export const targetUrl = z.string().refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" && url.search === "";
    } catch {
      return false;
    }
  },
  { message: "expected an upstream URL such as http://127.0.0.1:3001" },
);
