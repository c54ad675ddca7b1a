// The imagePullSecret built in the browser (htpasswd mode): a
// kubernetes.io/dockerconfigjson Secret from the password the user types on
// the page. Nothing here sends it anywhere; the page only shows the YAML.

export const DEFAULT_SECRET_NAME = 'registry-gateway-pull';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a namespace is not one Kubernetes takes, or null when it is. */
export function namespaceProblem(namespace: string): string | null {
  if (!namespace) return 'The namespace is empty: type one, for example default.';
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    return `"${namespace}" is not a Kubernetes namespace: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit.`;
  }
  return null;
}

/** Why a Secret name is not one Kubernetes takes, or null when it is. */
export function secretNameProblem(name: string): string | null {
  if (!name) return `The Secret's name is empty: type one, for example ${DEFAULT_SECRET_NAME}.`;
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return `"${name}" is not a Secret name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit.`;
  }
  return null;
}

/** Base64 of a string's UTF-8 bytes (btoa alone takes only Latin-1). */
export function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The .dockerconfigjson document: {"auths":{HOST:{username,password,auth}}}, one entry per address. */
export function dockerConfigJson(registry: string | readonly string[], username: string, password: string): string {
  const entry = { username, password, auth: base64(`${username}:${password}`) };
  return JSON.stringify({ auths: Object.fromEntries((typeof registry === 'string' ? [registry] : registry).map((r) => [r, entry])) });
}

export interface SecretInput {
  registry: string;
  /** Every address nodes may use (registry first); default: registry alone. */
  registries?: readonly string[];
  username: string;
  password: string;
  namespace: string;
  name?: string;
}

/** The Secret as YAML, for kubectl apply -f -. Names are checked first, so no value needs quoting. */
export function pullSecretYaml(input: SecretInput): string {
  const { registry, registries = [registry], username, password, namespace, name = DEFAULT_SECRET_NAME } = input;
  const problem = namespaceProblem(namespace) ?? secretNameProblem(name);
  if (problem) throw new Error(problem);
  if (!password) throw new Error('The password is empty: type the password you log in with.');
  return [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    'type: kubernetes.io/dockerconfigjson',
    'data:',
    `  .dockerconfigjson: ${base64(dockerConfigJson(registries, username, password))}`,
    '',
  ].join('\n');
}
