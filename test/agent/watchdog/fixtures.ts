// Shared pieces of the watchdog tests: a scratch directory with FIFOs, a capturing logger, a clock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { ensureFifo, type WatchdogLogger, type WatchdogSettings } from '../../../src/agent/watchdog/index.js';

export function scratchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hactl-watchdog-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function fifoIn(dir: string, name = 'watchdog.fifo'): string {
  const p = path.join(dir, name);
  ensureFifo(p);
  return p;
}

export interface CapturedLog extends WatchdogLogger {
  lines: { level: string; message: string }[];
  at(level: string): string[];
  text(): string;
}

export function captureLog(): CapturedLog {
  const lines: { level: string; message: string }[] = [];
  const push = (level: string) => (message: string) => void lines.push({ level, message });
  return {
    lines,
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    at: (level) => lines.filter((l) => l.level === level).map((l) => l.message),
    text: () => lines.map((l) => `${l.level} ${l.message}`).join('\n'),
  };
}

export class StepClock {
  constructor(public now = 1_000) {}
  nowMs = () => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

export function settings(overrides: Partial<WatchdogSettings> = {}): WatchdogSettings {
  return {
    mode: 'automatic',
    device: '/dev/watchdog',
    driver: 'default',
    safetyMarginSeconds: 5,
    ttlSeconds: 30,
    loopWaitSeconds: 10,
    ...overrides,
  };
}
