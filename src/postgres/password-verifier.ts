// Role passwords leave hactl already hashed, the way libpq's PQencryptPasswordConn and psql's \password send
// them: the server stores the verifier as it is, so the plaintext never reaches the server, its log
// (log_statement, an error's STATEMENT line), pg_stat_statements or a replica's WAL (issue 14).
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** PostgreSQL's default scram_iterations (and the only value before PostgreSQL 16). */
export const SCRAM_ITERATIONS = 4096;

// RFC 4013 (SASLprep) mappings: non-ASCII spaces → U+0020, "commonly mapped to nothing" → removed.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// eslint-disable-next-line no-misleading-character-class -- the joiners and selectors are the point
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
/**
 * Characters SASLprep prohibits (controls, private use, non-characters, surrogates, tagging …) or whose
 * bidirectional rules it checks (Hebrew, Arabic and their presentation forms). libpq then hashes the raw
 * bytes instead; rather than reproduce each table, such passwords take the plaintext path (see below).
 */
// eslint-disable-next-line no-control-regex, no-misleading-character-class -- controls and combining marks are what is looked for
const NOT_PREPARABLE = /[\u0000-\u001F\u007F-\u009F\u0340\u0341\u0590-\u08FF\u200E\u200F\u202A-\u202E\u206A-\u206F\uD800-\uDFFF\uE000-\uF8FF\uFB1D-\uFDFF\uFE70-\uFEFF\uFFF9-\uFFFF]/;

/** The SASLprep'd password, or null when it needs the tables this module does not carry. */
export function saslprep(password: string): string | null {
  if (NOT_PREPARABLE.test(password)) return null;
  const prepared = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  return NOT_PREPARABLE.test(prepared) ? null : prepared;
}

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5803, PostgreSQL's pg_authid format). */
export async function scramSha256Verifier(password: string, salt = randomBytes(16), iterations = SCRAM_ITERATIONS): Promise<string | null> {
  const prepared = saslprep(password);
  if (prepared === null) return null;
  const salted = await pbkdf2Async(Buffer.from(prepared, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** PostgreSQL's legacy `md5` + md5(password ‖ role name), for a server whose password_encryption is md5. */
export function md5Verifier(password: string, role: string): string {
  return `md5${createHash('md5').update(password + role).digest('hex')}`;
}

/**
 * What to put after PASSWORD for `role` on a server with this `password_encryption`: a verifier, or null
 * when the password must go as plaintext (a password SASLprep cannot be reproduced for, or an unknown
 * method) — the caller then turns statement logging off for its session first.
 */
export async function passwordVerifier(password: string, role: string, passwordEncryption: string): Promise<string | null> {
  if (passwordEncryption === 'md5') return md5Verifier(password, role);
  if (passwordEncryption === 'scram-sha-256') return scramSha256Verifier(password);
  return null;
}
