// The /ui/api/ shapes (the contract the gateway's src/ui/ answers with).

export type Mode = 'htpasswd' | 'token' | 'none';

export interface Session {
  user: string | null;
  mode: Mode;
  expiresAt: string | null;
}

export interface RepositoryPage {
  repositories: string[];
  next: string | null;
  total: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface TagSummary {
  name: string;
  digest: string;
  mediaType: string;
  size: number;
  created: string | null;
  platforms: Platform[];
}

export interface TagPage {
  name: string;
  tags: TagSummary[];
  next: string | null;
  total: number;
  canDelete: boolean;
}

export interface HistoryEntry {
  created?: string | null;
  createdBy?: string | null;
  emptyLayer?: boolean;
  comment?: string | null;
}

export interface ImageConfig {
  created?: string | null;
  os?: string | null;
  architecture?: string | null;
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  env?: string[] | null;
  labels?: Record<string, string> | null;
  workingDir?: string | null;
  user?: string | null;
  history?: HistoryEntry[] | null;
}

export interface Layer {
  digest: string;
  mediaType: string;
  size: number;
}

export interface PlatformManifest {
  digest: string;
  mediaType?: string;
  /** null: the index names no platform for this entry. */
  platform: Platform | null;
  size: number;
  layers: Layer[];
  config: ImageConfig | null;
  annotations?: Record<string, string>;
}

export interface Referrer {
  digest: string;
  artifactType?: string | null;
  mediaType: string;
  size: number;
  annotations?: Record<string, string> | null;
}

export interface ManifestDetail {
  name: string;
  ref: string;
  digest: string;
  mediaType: string;
  size: number;
  kind: 'index' | 'image';
  platforms?: PlatformManifest[];
  layers?: Layer[];
  config?: ImageConfig | null;
  /** An image's platform, from its config. */
  platform?: Platform | null;
  referrers: Referrer[] | null;
  canDelete: boolean;
  tags?: string[];
}

export interface RuntimeSteps {
  docker: string[];
  containerd: string[];
  k3s: string[];
  kind: string[];
  k3d: string[];
  kubernetes: string[];
}

export interface Certificate {
  names: string[];
  notAfter: string;
  daysLeft: number;
  warning: boolean;
}

export interface Setup {
  registry: string;
  /** null (and no commands, no bundle) when the gateway serves no /trust/. */
  caSha256: string | null;
  /** Each CA's certificate SHA-256 fingerprint (AB:CD:…), as openssl x509 -fingerprint -sha256 and browsers show it. */
  caFingerprints: string[];
  commands: string[];
  bundleUrl: string | null;
  steps: RuntimeSteps;
  certificate: Certificate;
}

export interface PullSecret {
  /** null with template: true: the page builds it from the password the user types (htpasswd mode). */
  yaml: string | null;
  template?: boolean;
  name?: string;
  namespace?: string;
  registry?: string;
  /** Token mode: when the token in it ends. */
  expiresAt?: string | null;
}

export interface ApiErrorBody {
  error: { code: string; message: string; retryAfter?: number };
  retryAfter?: number;
}
