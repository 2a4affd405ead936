// The prompts hactl asks with, named one by one: the CLI bundle (scripts/bundle.mjs) then keeps only
// these five of @inquirer/prompts, not its editor prompt with iconv-lite's tables (0.5 MB).
export { checkbox, confirm, input, password, select } from '@inquirer/prompts';
