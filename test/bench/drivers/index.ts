// The three drivers by system name, and clients from plain specs (for child processes).

import type { BenchClient, ClientSpec, ClientTarget, Driver, SystemName } from '../driver.ts';
import { EtcdDriver, openEtcdClient } from './etcd.ts';
import { openSynodClient, SynodDriver } from './synod.ts';
import { openZookeeperClient, ZookeeperDriver } from './zookeeper.ts';

export function createDriver(system: SystemName): Driver {
  switch (system) {
    case 'synod':
      return new SynodDriver();
    case 'etcd':
      return new EtcdDriver();
    case 'zookeeper':
      return new ZookeeperDriver();
  }
}

export function openClient(spec: ClientSpec, target: ClientTarget = { kind: 'ensemble' }): Promise<BenchClient> {
  switch (spec.system) {
    case 'synod':
      return openSynodClient(spec, target);
    case 'etcd':
      return openEtcdClient(spec, target);
    case 'zookeeper':
      return openZookeeperClient(spec, target);
  }
}
