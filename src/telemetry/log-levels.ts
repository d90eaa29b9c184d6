import type { LevelWithSilent } from 'pino';

// The logging choices the command line offers, apart from the logger itself so that defining the flags
// (on every `meshd` start, --help included) does not load pino.

export const LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
