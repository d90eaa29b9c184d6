import { startBackend, type Backend } from './backend.js';
import type { Version } from './mesh.js';

export interface HelloworldVersions {
  readonly v1: Backend;
  readonly v2: Backend;
  /** the pods behind the backends, for versionedService() */
  readonly versions: Version[];
}

/**
 * The helloworld canary pair every routing test uses: backends helloworld-v1 on SUBNET.11 and
 * helloworld-v2 on SUBNET.12 (each test file owns a loopback subnet such as 127.0.1), and the pod facts
 * that describe them to meshd.
 */
export async function startHelloworldVersions(subnet: string): Promise<HelloworldVersions> {
  const v1 = await startBackend('helloworld-v1', `${subnet}.11`);
  const v2 = await startBackend('helloworld-v2', `${subnet}.12`);
  return {
    v1,
    v2,
    versions: [
      { pod: 'helloworld-v1', version: 'v1', ip: v1.ip, port: v1.port },
      { pod: 'helloworld-v2', version: 'v2', ip: v2.ip, port: v2.port },
    ],
  };
}
