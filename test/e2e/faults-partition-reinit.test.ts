// Fault suite, part 2b: network partition of the primary, use_pg_rewind false (see partition-scenario.ts).
import { partitionScenario } from './partition-scenario.js';

partitionScenario(false);
