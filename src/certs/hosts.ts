// Parsing of --host values into subject alternative names. Every value becomes
// exactly one SAN type, as in mkcert: an IP address becomes an IP SAN (Go has
// refused to match an IP against a DNS SAN or the CN since 1.15), anything
// else must be a valid DNS name or a one-level wildcard.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { domainToASCII } from 'node:url';
import { fail } from '../errors.js';

export type Host =
  | { kind: 'dns'; name: string } // lower-case A-label form, may start with "*."
  | { kind: 'ip'; address: string; version: 4 | 6 };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function invalid(value: string, rule: string): never {
  return fail('INVALID_HOST', `invalid --host '${value}': ${rule}`);
}

function parseIp(value: string, text: string): Host | undefined {
  if (text.includes('%')) invalid(value, 'an IPv6 zone index (%...) cannot appear in a certificate; drop it');
  const version = isIP(text);
  if (version === 4 || version === 6) return { kind: 'ip', address: canonicalIp(text), version };
  return undefined;
}

function rejectPort(value: string): void {
  // "host:port" or "[v6]:port": the port belongs in the registry address, not the certificate.
  const port = /^(\[[^\]]*\]|[^:]+):(\d+)$/.exec(value);
  if (port) {
    invalid(value, `a certificate name takes no port: ` +
      `write '${port[1]!.replace(/^\[|\]$/g, '')}' (the port stays in the registry address clients use)`);
  }
}

function checkDnsName(value: string, name: string): void {
  if (name.length > 253) invalid(value, 'a DNS name is at most 253 characters');
  const labels = name.split('.');
  labels.forEach((label, i) => {
    if (label === '') invalid(value, 'empty label: no leading, trailing or double dots');
    if (label === '*') {
      if (i !== 0) invalid(value, "'*' is allowed only as the whole first label, as in *.registry.test");
      return;
    }
    if (label.includes('*')) invalid(value, "a wildcard must be a whole label: '*.' followed by a domain, as in *.registry.test");
    if (label.length > 63) invalid(value, `label '${label}' is longer than 63 characters`);
    if (!LABEL.test(label)) {
      const bad = [...label].find((c) => !/[a-z0-9-]/.test(c));
      invalid(value, bad === undefined
        ? `label '${label}' must not start or end with '-'`
        : `DNS names use only letters, digits, '-' and '.'; found '${bad}'`);
    }
  });
  const last = labels[labels.length - 1]!;
  if (/^[0-9]+$/.test(last)) invalid(value, 'the last label of a DNS name cannot be all digits (is it a mistyped IP address?)');
}

/** Parses one --host value; throws INVALID_HOST naming the rule it breaks. */
export function parseHost(value: string): Host {
  const text = value.trim();
  if (text === '') invalid(value, 'empty name');
  if (text === '*') invalid(value, "a bare '*' matches nothing; a wildcard is '*.' followed by a domain, as in *.registry.test");
  const bracketed = /^\[([^\]]+)\]$/.exec(text);
  const ip = parseIp(value, bracketed ? bracketed[1]! : text);
  if (ip) return ip;
  if (bracketed) invalid(value, 'brackets hold an IPv6 address only');
  rejectPort(text);
  if (/^[0-9.]+$/.test(text)) invalid(value, 'not a valid IPv4 address (four numbers 0-255 separated by dots)');
  let name = text.toLowerCase().replace(/\.$/, '');
  if (/[^\x00-\x7f]/.test(name)) {
    // Internationalized names go into certificates in their punycode form.
    const ascii = domainToASCII(name);
    if (ascii === '') invalid(value, 'not a valid internationalized domain name');
    name = ascii;
  }
  checkDnsName(value, name);
  return { kind: 'dns', name };
}

/** Parses and de-duplicates --host values, keeping the order given. */
export function parseHosts(values: readonly string[]): Host[] {
  const seen = new Set<string>();
  const hosts: Host[] = [];
  for (const value of values) {
    const host = parseHost(value);
    const key = hostKey(host);
    if (!seen.has(key)) {
      seen.add(key);
      hosts.push(host);
    }
  }
  return hosts;
}

export function hostKey(host: Host): string {
  return host.kind === 'dns' ? host.name : host.address;
}

// "::0001" and "::1" are the same address; compare by the canonical form.
function canonicalIp(address: string): string {
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

/**
 * What clients on this machine call it when no --host is given: loopback by
 * name and both address families, plus the machine's own hostname (skipped
 * with a warning when it is not a valid DNS name, as some container hostnames
 * are not).
 */
export function defaultHosts(warn: (message: string) => void, machine = hostname()): Host[] {
  const values = ['localhost', '127.0.0.1', '::1'];
  try {
    parseHost(machine);
    values.push(machine);
  } catch {
    warn(`the machine's hostname '${machine}' is not a valid DNS name; left out of the default names (add names with --host)`);
  }
  return parseHosts(values);
}

/** Second-level wildcards (*.test) are refused by browsers; Go clients accept them. */
export function wildcardWarnings(hosts: readonly Host[]): string[] {
  return hosts
    .filter((h): h is Extract<Host, { kind: 'dns' }> => h.kind === 'dns' && h.name.startsWith('*.') && h.name.split('.').length < 3)
    .map((h) => `'${h.name}' is a second-level wildcard: container clients accept it, browsers do not`);
}
