// Certificates signed with the CA key by OpenSSL, not by the gateway: how an
// attacker holding ca.key would mint one.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from './exec.js';

export async function opensslSign(caDir: string, workDir: string, name: string, san: string, keyType: 'rsa' | 'ecdsa' = 'rsa'): Promise<{ cert: string; key: string }> {
  const key = join(workDir, `${name}.key`);
  const csr = join(workDir, `${name}.csr`);
  const cert = join(workDir, `${name}.crt`);
  const ext = join(workDir, `${name}.ext`);
  await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature${keyType === 'rsa' ? ',keyEncipherment' : ''}\n`);
  const newKey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  for (const args of [
    ['req', '-new', ...newKey, '-nodes', '-keyout', key, '-subj', `/CN=${name}`, '-out', csr],
    ['x509', '-req', '-in', csr, '-CA', join(caDir, 'ca.crt'), '-CAkey', join(caDir, 'ca.key'), '-set_serial', `0x${Date.now().toString(16)}`, '-days', '30', '-extfile', ext, '-out', cert],
  ]) {
    const r = await exec('openssl', args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  }
  return { cert, key };
}
