/**
 * Key layout of one cluster under `/<namespace>/<scope>/` (DESIGN.md "Cluster keys"; Patroni's
 * layout, so a dump of the store reads the same as Patroni's).
 */

export interface ClusterKeys {
  /** `/<namespace>/<scope>/`, always with a trailing slash so prefix deletes never touch a neighbour scope. */
  readonly prefix: string;
  readonly initialize: string;
  readonly config: string;
  readonly leader: string;
  readonly membersPrefix: string;
  readonly history: string;
  readonly failover: string;
  readonly sync: string;
  readonly status: string;
  /** Patroni's `/failsafe`: the members (name → REST URL) the leader last saw; written by the leader with failsafe_mode. */
  readonly failsafe: string;
  member(name: string): string;
}

/** Patroni's default namespace. */
export const DEFAULT_NAMESPACE = '/service';

export function clusterKeys(namespace: string, scope: string): ClusterKeys {
  if (scope === '' || scope.includes('/')) throw new RangeError(`invalid scope ${JSON.stringify(scope)}`);
  const ns = `/${namespace.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  const prefix = `${ns}/${scope}/`;
  const membersPrefix = `${prefix}members/`;
  return {
    prefix,
    initialize: `${prefix}initialize`,
    config: `${prefix}config`,
    leader: `${prefix}leader`,
    membersPrefix,
    history: `${prefix}history`,
    failover: `${prefix}failover`,
    sync: `${prefix}sync`,
    status: `${prefix}status`,
    failsafe: `${prefix}failsafe`,
    member(name: string): string {
      if (name === '' || name.includes('/')) throw new RangeError(`invalid member name ${JSON.stringify(name)}`);
      return `${membersPrefix}${name}`;
    },
  };
}
