// The /ui/api/ shapes: the contract src/ui/ answers with and src/web/ reads.
// Type-only and imported by both (the server: src/ui/setup.ts,
// repositories.ts, pullSecret's route; the browser through
// src/web/lib/types.ts), so the two cannot drift apart: a field the server
// stops sending fails the typecheck of the server, not a page at run time.

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

/** GET /ui/api/repositories/summary: one row's extra columns, filled in after the names are shown. */
export interface RepositorySummary {
  name: string;
  /** Every tag. */
  tags: number;
  /** The newest creation date among the tags read (the last push, as the images say). */
  lastPush: string | null;
  /** The platforms of the tags read, each once. */
  platforms: Platform[];
  /** Only some tags were read for lastPush and platforms (a repository with many tags). */
  partial: boolean;
}

export interface RepositorySummaries {
  summaries: RepositorySummary[];
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

/** The tag list's orders: as the registry lists them, number-aware (ui/tagOrder.ts), or newest first across every tag. */
export type TagOrder = 'name' | 'version' | 'created';

export interface TagPage {
  name: string;
  tags: TagSummary[];
  next: string | null;
  /** Every tag (that matches `q`). */
  total: number;
  canDelete: boolean;
  sort?: TagOrder;
  /** Newest first: tags whose date is not read yet (ordered after the dated ones); ask again to fill them in. */
  pending?: number;
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
  /** The gateway cut something long (a field to 4 KiB, or the config's total). */
  truncated?: boolean;
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
  /** false: listed from the index only (size is the manifest's own); its layers and config are read when opened. */
  loaded?: boolean;
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
  /** An index's entries in all (more than are listed, for a very large one). */
  entries?: number;
  layers?: Layer[];
  /** An image's layers in all (more than are listed, for a very large one). */
  layerCount?: number;
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
  /** Every address clients use (the setup commands' addresses), `registry` first. */
  registries: string[];
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
  /** Every address the Secret covers, `registry` first. */
  registries?: string[];
  /** Token mode: when the token in it ends. */
  expiresAt?: string | null;
}

export interface ApiErrorBody {
  error: { code: string; message: string; retryAfter?: number };
  retryAfter?: number;
}
