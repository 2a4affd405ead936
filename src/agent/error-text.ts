/** The text of a thrown value for a log line: its message when it is an Error (most are), else its string form. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
