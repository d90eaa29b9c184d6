#!/usr/bin/env node
import { exitQuietlyWhenStdoutCloses } from './output.js';
import { buildProgram } from './program.js';

// `meshd`: parse the command line and run one command. A failure is one line on stderr, exit 2 for a
// command line meshd cannot act on (commander exits 1 itself for flags it cannot parse).

exitQuietlyWhenStdoutCloses();

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`meshd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
