/**
 * Questions to the operator (@inquirer/prompts, loaded only when a question is asked). Without a
 * terminal a question is never asked: the command fails at once and says to pass --force, so a
 * script or a cron job cannot hang on a prompt nobody sees.
 */

export class ConfirmationRequired extends Error {
  constructor(question: string, action: string) {
    super(`"${question.replace(/\?$/, '')}" needs an answer but there is no terminal to ask on; pass --force to ${action} without asking`);
    this.name = 'ConfirmationRequired';
  }
}

/** A declined confirmation: patronictl's "Aborting switchover" and the like. */
export class Aborted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Aborted';
  }
}

export interface Prompter {
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
  input(message: string, defaultValue?: string): Promise<string>;
  select(message: string, choices: { name: string; value: string }[], defaultValue?: string): Promise<string>;
  checkbox(message: string, choices: string[]): Promise<string[]>;
}

export function isInteractive(stdin: { isTTY?: boolean } = process.stdin, stdout: { isTTY?: boolean } = process.stdout): boolean {
  return stdin.isTTY === true && stdout.isTTY === true;
}

/** `action` completes "pass --force to <action> without asking". */
export function createPrompter(action: string, interactive = isInteractive()): Prompter {
  const need = (q: string) => {
    if (!interactive) throw new ConfirmationRequired(q, action);
  };
  const inquirer = async () => {
    try {
      return await import('./prompt-library.js');
    } catch (err) {
      throw new Error(`cannot load the prompt library: ${(err as Error).message}`);
    }
  };
  // Ctrl-C in a prompt rejects with ExitPromptError: the whole command stops, nothing is sent.
  const answer = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if ((err as Error).name === 'ExitPromptError' || (err as Error).name === 'AbortPromptError') throw new Aborted(`Aborted: nothing was sent`);
      throw err;
    }
  };
  return {
    async confirm(message, defaultValue = false) {
      need(message);
      const { confirm } = await inquirer();
      return answer(() => confirm({ message, default: defaultValue }));
    },
    async input(message, defaultValue) {
      need(message);
      const { input } = await inquirer();
      return answer(() => input({ message, default: defaultValue })).then((s) => s.trim());
    },
    async select(message, choices, defaultValue) {
      need(message);
      const { select } = await inquirer();
      return answer(() => select({ message, choices, default: defaultValue }));
    },
    async checkbox(message, choices) {
      need(message);
      const { checkbox } = await inquirer();
      return answer(() => checkbox({ message, choices: choices.map((c) => ({ name: c, value: c })) }));
    },
  };
}
