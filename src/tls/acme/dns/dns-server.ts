// "127.0.0.1:53", "[::1]:5353", "ns1.example.com" → host and port (53 unless given), as the config writes them.
export function parseDnsServer(text: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] === undefined ? 53 : Number(bracketed[2]) };
  const [host, port] = text.split(":");
  return { host: host!, port: port === undefined ? 53 : Number(port) };
}
