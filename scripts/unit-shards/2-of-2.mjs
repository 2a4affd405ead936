// Unit shard 2 of 2: its share of the unit test files in one process (see scripts/unit-shard.mjs).
import { runShard } from '../unit-shard.mjs';

await runShard(2, 2);
