#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';
import { daemonConfigPath, runDaemon } from '../dist/agent/entry.js';

// `hactl agent -c FILE` skips oclif (src/agent/entry.ts); everything else is an oclif command.
const daemonConfig = daemonConfigPath(process.argv.slice(2), process.env);
if (daemonConfig !== null) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  await runDaemon(daemonConfig, version);
} else {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
