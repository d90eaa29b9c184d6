import pino, { type Logger, type LevelWithSilent } from 'pino';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat } from './log-levels.js';

export type { Logger };

// Logs go to stderr (stdout stays free for CLI output such as `meshd bootstrap`): one line per event,
// JSON for machines (pipes, files, Kubernetes), or readable text when a person watches a terminal.
//
// Scopes follow istiod's: a module logs through `log.child({ scope: 'ads' })` (sources bind `source`
// instead, which counts as their scope), and `--log-output-level ads:debug,ca:warn` sets one scope's
// level apart from the default (`--log-level`, or `default:LEVEL` in the same list).

export { LOG_FORMATS, LOG_LEVELS, type LogFormat };

export interface LogOptions {
  /** the default level (`--log-level`); `default:LEVEL` in `outputLevels` overrides it */
  readonly level?: string;
  /** text when stderr is a terminal, else JSON (`--log-format`) */
  readonly format?: LogFormat;
  /** istiod's `--log_output_level`: `scope:level,scope:level,...` */
  readonly outputLevels?: string;
  /** where lines go; default stderr */
  readonly destination?: pino.DestinationStream;
}

function checkLevel(level: string, flag: string): LevelWithSilent {
  if (!LOG_LEVELS.includes(level as LevelWithSilent)) {
    throw new Error(`${flag}: ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as LevelWithSilent;
}

/** `ads:debug,ca:warn` → Map; names the bad entry and why. */
export function parseOutputLevels(spec: string): Map<string, LevelWithSilent> {
  const out = new Map<string, LevelWithSilent>();
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = entry.lastIndexOf(':');
    if (i <= 0) throw new Error(`--log-output-level: ${JSON.stringify(entry)} is not scope:level`);
    out.set(entry.slice(0, i), checkLevel(entry.slice(i + 1), `--log-output-level ${entry.slice(0, i)}`));
  }
  return out;
}

/** The scope a child logger belongs to: its `scope` binding, else its `source` binding. */
function scopeOf(bindings: pino.Bindings): string | undefined {
  const scope = bindings.scope ?? bindings.source;
  return typeof scope === 'string' ? scope : undefined;
}

function build(options: LogOptions, destination: pino.DestinationStream): Logger {
  const scopes = parseOutputLevels(options.outputLevels ?? '');
  const level = scopes.get('default') ?? checkLevel(options.level ?? 'info', '--log-level');
  const scoped = [...scopes].filter(([scope]) => scope !== 'default');
  // a child logger may be more (or less) verbose than its parent: pino writes each to the same stream
  return pino(
    {
      level,
      base: { component: 'meshd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(scoped.length
        ? {
            onChild(child: Logger) {
              const scope = scopeOf(child.bindings());
              const wanted = scope === undefined ? undefined : scopes.get(scope);
              if (wanted) child.level = wanted;
            },
          }
        : {}),
    },
    destination,
  );
}

/** JSON lines (the format for pipes, files and tests), synchronously created. */
export function createLogger(level: string = 'info', destination: pino.DestinationStream = pino.destination(2), outputLevels?: string): Logger {
  return build({ level, ...(outputLevels ? { outputLevels } : {}) }, destination);
}

/** The format a user gets without `--log-format`: text on a terminal, JSON otherwise. */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY ? 'text' : 'json';
}

/**
 * The CLI's logger: `--log-level`, `--log-format`, `--log-output-level`. Text is pino-pretty on one line per
 * event (time, level, scope, message, then the event's fields), loaded only when asked for.
 */
export async function createCliLogger(options: LogOptions): Promise<Logger> {
  const format = options.format ?? defaultLogFormat();
  if (!LOG_FORMATS.includes(format)) throw new Error(`--log-format: ${JSON.stringify(format)} is not one of ${LOG_FORMATS.join(', ')}`);
  if (format === 'json') return build(options, options.destination ?? pino.destination(2));
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    destination: options.destination ?? 2,
    sync: true,
    singleLine: true,
    colorize: options.destination ? false : !!process.stderr.isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component,scope,source',
    messageFormat: (log, messageKey) => {
      const scope = scopeOf(log as pino.Bindings);
      return `${scope ? `${scope}: ` : ''}${String(log[messageKey] ?? '')}`;
    },
  });
  return build(options, stream);
}

export const silentLogger: Logger = pino({ level: 'silent' });
