// `gateway deploy kubernetes`: the command and its flags. What it does is in
// deployKubernetes.ts, loaded by the action: `gateway --help` and `gateway
// deploy --help` load none of it (issue 26).
import { Command } from 'commander';
import { DEFAULT_CONFIG, outputOption } from './options.js';
import type { KubernetesOptions } from './deployKubernetes.js';
import type { Output } from './output.js';
import type { ContainerOptions } from './deployContainer.js';



export function deployCommand(version: string, io: Output): Command {
  const deploy = new Command('deploy').description('write what a platform needs to run the gateway (Kubernetes, a container)');
  deploy.addCommand(containerCommand(version, io));
  deploy.command('kubernetes')
    .description('write a kustomize directory: the manifests, gateway.yaml for the Pod and the Secret inputs from certs/ and the users file')
    .requiredOption('--out <dir>', 'the directory to write (kubectl apply -k DIR)')
    .option('--config <file>', `the gateway config to start from (default ${DEFAULT_CONFIG} when present)`)
    .option('--certs <dir>', 'directory holding server.crt, server.key, ca.crt (default: where tls.cert is)')
    .option('--htpasswd <file>', 'the users file (default: auth.htpasswd of the config)')
    .option('--overlay <name>', 'with-registry (a registry behind the gateway) or existing-registry (--upstream)', 'with-registry')
    .option('--upstream <url>', 'existing-registry: the registry Service, e.g. http://registry.registry.svc.cluster.local:5000')
    .option('--registry-selector <labels>', 'existing-registry: the registry pods\' labels, KEY=VALUE[,KEY=VALUE], for the NetworkPolicy')
    .option('--namespace <ns>', 'the namespace', 'registry-gateway')
    .option('--image <ref>', `the gateway image (default: npm run image's, by tag and digest; else registry-gateway:${version})`)
    .option('--single', 'one gateway replica and no Redis')
    .option('--servicemonitor', 'add a ServiceMonitor and a PrometheusRule with the alerts (Prometheus Operator)')
    .option('--expose <kind=address>', 'how nodes and clients outside reach it: nodeport=NODE_ADDRESS[:PORT], ' +
      'loadbalancer=ADDRESS[:PORT], ' +
      'cluster-ip=IP, ingress-nginx=HOST or tlsroute=HOST (sets publicUrl; the certificate must name the address)')
    .option('--gateway-parent <ns/name>', 'tlsroute: the Gateway API Gateway (TLS listener, mode Passthrough) the route attaches to')
    .option('--tls-secret <name>', 'use this existing Secret for the certificates ' +
      '(cert-manager\'s kubernetes.io/tls: tls.crt, tls.key, ca.crt)')
    .option('--users-secret <name>', 'use this existing Secret for the users (key htpasswd; External Secrets, sealed secrets)')
    .option('--gitops', 'write no secret data: the Secrets are created by other means, by name')
    .option('--servicemonitor-release <name>', 'the ServiceMonitor\'s release label (kube-prometheus-stack selects by it)')
    .option('--priority-class <name>', 'the gateway pods\' priorityClassName')
    .option('--with-token-key', 'auth.mode token: put the token signing key in the Secret registry-gateway-token (created if missing)')
    .option('--force', 'replace --out when it holds an earlier output of this command')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n' +
      '  $ gateway deploy kubernetes --out deploy/out && kubectl apply -k deploy/out\n' +
      '  $ gateway deploy kubernetes --out deploy/out --expose cluster-ip=10.96.0.50   # nodes pull from 10.96.0.50:5443\n' +
      '  $ gateway deploy kubernetes --out deploy/out --overlay existing-registry \\\n' +
      '      --upstream http://registry.registry.svc.cluster.local:5000 --registry-selector app=registry --namespace registry')
    .action(async (o: KubernetesOptions) => {
      const { kubernetes } = await import('./deployKubernetes.js');
      await kubernetes(version, o, io);
    });
  return deploy;
}

/** `deploy container`: the flags; what it does is in deployContainer.ts, loaded by the action. */
function containerCommand(version: string, io: Output): Command {
  return new Command('container')
    .description('write a directory a podman or docker container of the image mounts: gateway.yaml with the image\'s paths, ' +
      'certificates, users; readable by the image\'s uid 65532')
    .requiredOption('--out <dir>', 'the directory to write')
    .option('--config <file>', `the gateway config to start from (default ${DEFAULT_CONFIG} when present)`)
    .option('--certs <dir>', 'directory holding server.crt, server.key, ca.crt (default: where tls.cert is)')
    .option('--htpasswd <file>', 'the users file (default: auth.htpasswd of the config)')
    .option('--upstream <url>', 'the registry the container forwards to (default: the config\'s, else http://127.0.0.1:5000)')
    .option('--image <ref>', `the gateway image in the printed commands (default registry-gateway:${version})`)
    .option('--force', 'replace --out when it holds an earlier output of this command')
    .addHelpText('after', '\nExample:\n  $ sudo npx gateway deploy container --out /srv/gw   # then run the podman command it prints')
    .action(async (o: ContainerOptions) => {
      const { container } = await import('./deployContainer.js');
      await container(version, o, io);
    });
}
