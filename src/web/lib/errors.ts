// What the page says when the API answers with an error.
import type { ApiErrorBody } from './types.js';

/** An API answer other than 2xx: its status, the error's code and message, and 429's wait. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The ApiError of a response: the JSON error body when there is one, else the status alone. */
export function apiError(status: number, body: unknown, retryAfterHeader: string | null): ApiError {
  const error = (body as Partial<ApiErrorBody> | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : `HTTP_${status}`;
  const message = typeof error?.message === 'string' && error.message ? error.message : `The gateway answered ${status}.`;
  return new ApiError(status, code, message, retryAfterSeconds(body, retryAfterHeader));
}

/** 429's wait in seconds: the body's retryAfter (top level or in error), else the Retry-After header. */
export function retryAfterSeconds(body: unknown, header: string | null): number | null {
  const b = body as Partial<ApiErrorBody> | null;
  for (const value of [b?.retryAfter, b?.error?.retryAfter]) {
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  if (header && /^\d+$/.test(header.trim())) return Number(header.trim());
  return null;
}

/** "45 seconds", "3 minutes" (rounded up), for a wait. */
export function waitText(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

/** The login form's message for a failed login. */
export function loginErrorText(error: ApiError): string {
  switch (error.status) {
    case 401:
      return 'Wrong username or password.';
    case 429:
      return error.retryAfter !== null
        ? `Too many failed logins. Try again in ${waitText(error.retryAfter)}.`
        : 'Too many failed logins. Try again later.';
    case 403:
      return `The gateway refused the login: ${error.message}`;
    default:
      return error.message;
  }
}
