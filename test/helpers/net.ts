// Network fixtures shared by tests: TCP ports reserved machine-wide for this test process, outside
// the ephemeral range (the same allocator the demo uses; see src/demo/ports.ts for why "bind port 0
// and close it" is not enough when a child binds the port later).
export { freePort, freePorts, releasePorts } from '../../src/demo/ports.js';
