// Typed errors with stable codes. Core modules throw these; the CLI (and later
// the HTTP layer) map them to exit codes and status codes here, in one place.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // a flag value that breaks a rule
  | 'INVALID_HOST' // a --host value that is no DNS name, IP address or wildcard
  | 'NAME_NOT_PERMITTED' // outside the CA's name constraints
  | 'FILE_EXISTS' // would overwrite without --force
  | 'FILE_MISSING' // an input file is not there
  | 'FILE_INVALID' // an input file is there but unreadable or malformed
  | 'INVALID_CONFIG' // gateway.yaml or a flag that overrides it
  | 'LISTEN_FAILED' // the listen address is taken or not ours
  | 'CHECK_FAILED'; // a verification the user asked for found a problem

export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
  }
}

// Exit codes: 2 for anything the user can fix by changing the input, 1 for a
// check that failed or anything unexpected.
const EXIT_CODES: Record<ErrorCode, 1 | 2> = {
  INVALID_ARGUMENT: 2,
  INVALID_HOST: 2,
  NAME_NOT_PERMITTED: 2,
  FILE_EXISTS: 2,
  FILE_MISSING: 2,
  FILE_INVALID: 2,
  INVALID_CONFIG: 2,
  LISTEN_FAILED: 1,
  CHECK_FAILED: 1,
};

export function exitCodeFor(err: unknown): 1 | 2 {
  return err instanceof GatewayError ? EXIT_CODES[err.code] : 1;
}

// A declaration, not an arrow function: TypeScript narrows after a call only
// to a function declared to return never.
export function fail(code: ErrorCode, message: string): never {
  throw new GatewayError(code, message);
}
