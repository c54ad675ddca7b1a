// Reading extensions straight from a certificate's DER, for any key type
// (node-forge's certificate parser accepts RSA keys only).
import forge from 'node-forge';

const { asn1 } = forge;

/** IP helpers present in node-forge's util but missing from its type definitions. */
export const ipUtil = forge.util as unknown as { bytesFromIP(ip: string): string; bytesToIP(bytes: string): string };

/** The DER bytes (binary string) of an extension's value, or undefined. */
export function extensionValue(certDer: Buffer, oid: string): string | undefined {
  const cert = asn1.fromDer(certDer.toString('binary'));
  const tbs = (cert.value as forge.asn1.Asn1[])[0]!;
  const wrapper = (tbs.value as forge.asn1.Asn1[]).find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  const extensions = wrapper ? ((wrapper.value as forge.asn1.Asn1[])[0]?.value as forge.asn1.Asn1[]) : [];
  for (const ext of extensions) {
    const parts = ext.value as forge.asn1.Asn1[];
    if (asn1.derToOid(parts[0]!.value as string) === oid) return parts[parts.length - 1]!.value as string;
  }
  return undefined;
}

export type SubjectAltName =
  | { kind: 'dns'; name: string }
  | { kind: 'ip'; address: string }
  | { kind: 'other'; tag: number; value: string };


export function subjectAltNames(certDer: Buffer): SubjectAltName[] {
  const value = extensionValue(certDer, '2.5.29.17');
  if (value === undefined) return [];
  return (asn1.fromDer(value).value as forge.asn1.Asn1[]).map((n): SubjectAltName => {
    const raw = typeof n.value === 'string' ? n.value : '';
    if (n.type === 2) return { kind: 'dns', name: raw };
    if (n.type === 7) return { kind: 'ip', address: ipUtil.bytesToIP(raw) };
    return { kind: 'other', tag: n.type, value: raw };
  });
}

/** The DNS names and IP addresses a certificate is for, as --host values. */
export function sanHosts(certDer: Buffer): string[] {
  return subjectAltNames(certDer).flatMap((s) => (s.kind === 'dns' ? [s.name] : s.kind === 'ip' ? [s.address] : []));
}
