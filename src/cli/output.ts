// What the CLI does when the program reading its stdout goes away (`meshd manifest generate | head`):
// Node ignores SIGPIPE, so the next write fails with EPIPE and, with no listener, the error event
// crashes the process with a stack trace. Like other command-line tools, meshd then stops quietly:
// nobody is left to read the rest. One listener on process.stdout covers every sub-command.

interface ErrorEmitter {
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
}

export interface StdoutCloseOptions {
  /** ends the process; process.exit with no code keeps an exit code the command already set (validate's 1) */
  readonly exit?: (code?: number) => void;
  readonly stderr?: { write(chunk: string): unknown };
}

export function exitQuietlyWhenStdoutCloses(stdout: ErrorEmitter = process.stdout, { exit = (code) => process.exit(code), stderr = process.stderr }: StdoutCloseOptions = {}): void {
  stdout.on('error', (err) => {
    if (err.code === 'EPIPE') {
      exit();
      return;
    }
    // any other failure to write stdout (disk full behind a redirect…) is a real error
    stderr.write(`meshd: writing stdout: ${err.message}\n`);
    exit(2);
  });
}

/** A command's result as -o json|yaml, or its text form. */
export async function writeFormatted(out: { write(chunk: string): unknown }, format: string, data: unknown, text: () => string): Promise<void> {
  if (format === 'json') out.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') out.write((await import('yaml')).stringify(data));
  else out.write(text());
}
