// Goal: the real disk and the simulated disk behave the same through the Disk interface.

import { realDisk } from '../../server/storage/real-disk.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { diskContract } from './disk-contract.ts';
import { tempDir } from './helpers.ts';

diskContract('realDisk', async () => {
  const { dir, cleanup } = tempDir('disk');
  return { disk: realDisk, root: dir, cleanup };
});

diskContract('SimDisk', async () => {
  const disk = new SimDisk();
  await disk.mkdir('/root');
  return { disk, root: '/root', cleanup: () => undefined };
});

diskContract('SimDisk mount', async () => {
  const sim = new SimDisk();
  const disk = sim.mount();
  await disk.mkdir('/root');
  return { disk, root: '/root', cleanup: () => undefined };
});
