// Fault suite, part 2a: network partition of the primary, use_pg_rewind true (see partition-scenario.ts).
import { partitionScenario } from './partition-scenario.js';

partitionScenario(true);
