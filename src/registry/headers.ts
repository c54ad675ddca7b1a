// The request headers the upstream receives: written by the gateway, never
// copied. The registry behind us is Go: it lowercases with Unicode rules,
// trims every Unicode space and reads a form body ahead of the query when
// Content-Type says so, while the gateway compares bytes. Any header the
// two could read differently would let a request the gateway authorized
// execute as another. So each header the registry API reads is parsed here
// against a strict ASCII grammar and written out again from the parse;
// Content-Type on uploads is the gateway's own; everything else stops here.
import { parse as parseContentType } from 'content-type';
import { invalid, type Invalid, type RegistryErrorCode } from '../http/responses.js';
import type { Route } from './routes.js';

export type UpstreamHeaders = Record<string, string>;

/** What the request is, as far as its headers go. */
export interface HeaderContext {
  method: string;
  route: Route;
  /** Whether the route takes a body here (body.ts): only then is framing forwarded. */
  body: boolean;
  /** Whether the upstream authenticates the client itself (auth.mode none). */
  forwardsCredentials: boolean;
}

type Built = string | Invalid;
interface HeaderRule {
  /** Whether the registry reads this header on this request; if not, it is never looked at. */
  on(ctx: HeaderContext): boolean;
  /** The value the upstream receives, from the parse of the client's. */
  build(value: string, ctx: HeaderContext): Built;
  code?: RegistryErrorCode;
}

// RFC 9110 field-value without obs-text: visible ASCII, SP and HTAB. Bytes
// above 0x7F are where Go's Unicode rules and ours part ways.
const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/;
const MAX_LIST = 32;

const refuse = (name: string, why: string, code: RegistryErrorCode = 'UNSUPPORTED', status = 400): Invalid =>
  invalid(status, code, `${name} header: ${why}`);

const isRead = (ctx: HeaderContext) => ctx.method === 'GET' || ctx.method === 'HEAD';
const resource = (ctx: HeaderContext) => (ctx.route.kind === 'repository' ? ctx.route.resource : undefined);
const isUploadWrite = (ctx: HeaderContext) => resource(ctx) === 'uploads' && ['POST', 'PATCH', 'PUT'].includes(ctx.method);
const isContent = (ctx: HeaderContext) => isRead(ctx) && (resource(ctx) === 'manifests' || resource(ctx) === 'blobs');

/**
 * One media type by RFC 9110's grammar (jshttp's content-type throws on
 * anything else): `type/subtype` lowercased, parameters checked and
 * dropped, as distribution reads only the type. Undefined when it does not parse.
 */
function mediaType(value: string): { type: string; parameters: Record<string, string> } | undefined {
  try {
    return parseContentType(value);
  } catch {
    return undefined;
  }
}

/** A manifest's type: one media type, never a form (Go would parse the body as one). */
function contentType(value: string): Built {
  const parsed = mediaType(value);
  if (!parsed) return refuse('Content-Type', `'${value}' is not a media type (type/subtype)`, 'MANIFEST_INVALID');
  if (parsed.type === 'application/x-www-form-urlencoded' || parsed.type.startsWith('multipart/')) {
    return refuse('Content-Type', `${parsed.type} is not a manifest media type`, 'MANIFEST_INVALID');
  }
  return parsed.type;
}

const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * A list of media ranges, each `type/subtype` with its q-value if any. Split
 * on commas as distribution splits it (a quoted comma is no media range to
 * either, and is refused here).
 */
function accept(value: string): Built {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const piece = raw.replace(/^[\t ]+|[\t ]+$/g, '');
    if (piece === '') continue; // RFC 9110 5.6.1: empty list elements are ignored
    const parsed = mediaType(piece);
    if (!parsed) return refuse('Accept', `'${piece}' is not a media range (type/subtype)`);
    const q = parsed.parameters.q;
    if (q !== undefined && !QVALUE.test(q)) return refuse('Accept', `q=${q} is not a weight between 0 and 1`);
    out.push(q === undefined ? parsed.type : `${parsed.type};q=${q}`);
  }
  if (out.length > MAX_LIST) return refuse('Accept', `more than ${MAX_LIST} media ranges`);
  return out.join(', ');
}

const RANGE_SPEC = /^(\d{0,18})-(\d{0,18})$/;

/** `bytes=` and byte ranges (first-last, first-, -suffix). */
function range(value: string): Built {
  const m = /^bytes=(.*)$/i.exec(value);
  const specs = m ? m[1]!.split(',').map((s) => s.trim()) : [];
  const valid = specs.length > 0 && specs.every((s) => RANGE_SPEC.test(s) && s !== '-');
  if (!valid) return refuse('Range', `'${value}' is not bytes=FIRST-LAST`, 'RANGE_INVALID', 416);
  if (specs.length > 8) return refuse('Range', 'more than 8 ranges', 'RANGE_INVALID', 416);
  return `bytes=${specs.join(',')}`;
}

/** An upload chunk's place, as distribution reads it: START-END. */
function contentRange(value: string): Built {
  const m = /^(\d{1,18})-(\d{1,18})$/.exec(value);
  if (!m) return refuse('Content-Range', `'${value}' is not START-END (byte offsets)`, 'RANGE_INVALID', 416);
  return `${BigInt(m[1]!)}-${BigInt(m[2]!)}`;
}

const ETAG = /\s*(W\/"[\x21\x23-\x7e]*"|"[\x21\x23-\x7e]*")\s*(?:,|$)/y;

/** `*` or a list of entity tags. */
function entityTags(name: string) {
  return (value: string): Built => {
    if (value === '*') return value;
    const tags: string[] = [];
    ETAG.lastIndex = 0;
    while (ETAG.lastIndex < value.length) {
      const at = ETAG.lastIndex;
      const m = ETAG.exec(value);
      if (!m || ETAG.lastIndex === at) return refuse(name, `'${value}' is not * or a list of quoted entity tags`);
      tags.push(m[1]!);
    }
    if (tags.length === 0 || tags.length > MAX_LIST) return refuse(name, `expected 1 to ${MAX_LIST} entity tags`);
    return tags.join(', ');
  };
}

const IMF_FIXDATE = new RegExp('^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) '
  + '\\d{4} \\d{2}:\\d{2}:\\d{2} GMT$');

function httpDate(value: string): Built {
  const ms = Date.parse(value);
  if (!IMF_FIXDATE.test(value) || Number.isNaN(ms)) return refuse('If-Modified-Since', `'${value}' is not an HTTP date (IMF-fixdate)`);
  return new Date(ms).toUTCString();
}

const CREDENTIALS = /^(basic|bearer) +([A-Za-z0-9._~+/-]+=*)$/i;

/** auth.mode none: the upstream authenticates, so credentials go on, in their canonical form. */
function authorization(value: string): Built {
  const m = CREDENTIALS.exec(value);
  if (!m) return refuse('Authorization', "expected 'Basic CREDENTIALS' or 'Bearer TOKEN'", 'UNAUTHORIZED', 401);
  return `${m[1]!.toLowerCase() === 'basic' ? 'Basic' : 'Bearer'} ${m[2]}`;
}

const RULES: Record<string, HeaderRule> = {
  'user-agent': { on: () => true, build: (v) => v.slice(0, 1024) },
  accept: { on: isRead, build: accept },
  range: { on: (ctx) => isRead(ctx) && resource(ctx) === 'blobs', build: range },
  'if-none-match': { on: isContent, build: entityTags('If-None-Match') },
  'if-match': { on: isContent, build: entityTags('If-Match') },
  'if-modified-since': { on: isContent, build: httpDate },
  'content-range': { on: (ctx) => ctx.method === 'PATCH' && resource(ctx) === 'uploads', build: contentRange },
  'content-type': { on: (ctx) => ctx.method === 'PUT' && resource(ctx) === 'manifests', build: contentType },
  'content-length': {
    on: (ctx) => ctx.body,
    build: (v) => (/^\d{1,18}$/.test(v) ? String(BigInt(v)) : refuse('Content-Length', 'not a byte count', 'SIZE_INVALID')),
  },
  'transfer-encoding': {
    on: (ctx) => ctx.body,
    build: (v) => (v.toLowerCase() === 'chunked' ? 'chunked' : refuse('Transfer-Encoding', `'${v}' is not accepted: only chunked`)),
  },
  authorization: { on: (ctx) => ctx.forwardsCredentials, build: authorization },
};

/**
 * Every header the upstream will read on this request, built from a strict
 * parse of the client's, or why the request is refused (before any auth).
 * Host, forwarding and connection headers are added when forwarding.
 */
export function buildHeaders(headers: NodeJS.Dict<string | string[]>, ctx: HeaderContext): { headers: UpstreamHeaders } | Invalid {
  const out: UpstreamHeaders = {};
  for (const [name, rule] of Object.entries(RULES)) {
    const raw = headers[name];
    if (raw === undefined || !rule.on(ctx)) continue;
    const value = (Array.isArray(raw) ? raw.join(', ') : raw).replace(/^[\t ]+|[\t ]+$/g, '');
    if (!VISIBLE_ASCII.test(value)) {
      return refuse(name, 'holds a byte outside visible ASCII: send the value as plain ASCII (RFC 9110 field-value)');
    }
    const built = rule.build(value, ctx);
    if (typeof built !== 'string') return built;
    out[name] = built;
  }
  // Uploads are bytes, whatever the client called them: Go never sees a form.
  if (isUploadWrite(ctx)) out['content-type'] = 'application/octet-stream';
  return { headers: out };
}

/**
 * Connection as the proxy's response side reads it (close, or an HTTP/1.0
 * keep-alive): only the token, never the client's bytes.
 */
export function connectionHeader(headers: NodeJS.Dict<string | string[]>): string | undefined {
  const value = headers.connection;
  if (typeof value !== 'string') return undefined;
  const tokens = value.split(',').map((t) => t.trim().toLowerCase());
  return tokens.includes('close') ? 'close' : tokens.includes('keep-alive') ? 'keep-alive' : undefined;
}
