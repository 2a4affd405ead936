// Unit shard 1 of 2: its share of the unit test files in one process (see scripts/unit-shard.mjs).
import { runShard } from '../unit-shard.mjs';

await runShard(1, 2);
