#!/usr/bin/env node
// `airlock`: the command-line client. Ctrl-C cancels the running command
// cleanly (the login stream is cancelled, nothing half-written is left);
// a second Ctrl-C exits at once.
import { EXIT } from './exit-codes.ts';
import { runCli } from './program.ts';

const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(EXIT.CANCELLED);
  controller.abort();
});

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
process.exitCode = code;
