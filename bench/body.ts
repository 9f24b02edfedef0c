// The 100-byte response every backend returns (node fallback and nginx alike), so the targets compare.
// Letters only: the text is also written into nginx.conf inside a quoted string.
export const BODY = ("rampart-bench-" + "x".repeat(100)).slice(0, 100);
