// Network fixtures shared by tests: free TCP ports on loopback (the same code the demo uses).
export { freePort, freePorts } from '../../src/demo/ports.js';
