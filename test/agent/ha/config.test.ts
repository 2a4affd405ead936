import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dynamicConfigSchema, parseConfig } from '../../../src/config/index.js';
import { haConfigFrom } from '../../../src/agent/ha/index.js';

const example = readFileSync(fileURLToPath(new URL('../../../examples/ha.yml', import.meta.url)), 'utf8');

describe('HA settings', () => {
  it('takes timing from the dynamic config in ms and names from the local file', () => {
    const { config } = parseConfig(example, 'ha.yml');
    const dynamic = dynamicConfigSchema.parse({ ttl: 10, loop_wait: 2, retry_timeout: 3, pause: true, postgresql: { use_pg_rewind: true } });
    const ha = haConfigFrom(config, dynamic);
    assert.equal(ha.name, config.name);
    assert.deepEqual([ha.ttlMs, ha.loopWaitMs, ha.retryTimeoutMs], [10_000, 2_000, 3_000]);
    assert.equal(ha.maximumLagOnFailoverBytes, 1_048_576n);
    assert.equal(ha.primaryStartTimeoutMs, 300_000);
    assert.equal(ha.pause, true);
    assert.equal(ha.usePgRewind, true, 'the dynamic use_pg_rewind wins');
  });
});
