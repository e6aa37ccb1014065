/** The command line every server benchmark takes: --quick, --rounds, --duration, --warmup, --json. */
import { parseArgs } from 'node:util';

export interface Settings {
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
}

function nonNegative(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new TypeError(`--${name} must be a number ≥ 0`);
  return number;
}

/** `full` without flags, `quick` with --quick; --rounds, --duration and --warmup override either. */
export function readSettings(
  full: Settings,
  quick: Settings,
): { settings: Settings; json: string | undefined } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const base = values.quick ? quick : full;
  const rounds = nonNegative('rounds', values.rounds, base.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new TypeError('--rounds must be a whole number ≥ 1');
  const settings: Settings = {
    rounds,
    durationSeconds: nonNegative('duration', values.duration, base.durationSeconds),
    warmupSeconds: nonNegative('warmup', values.warmup, base.warmupSeconds),
  };
  if (settings.durationSeconds === 0) throw new TypeError('--duration must be more than 0');
  return { settings, json: values.json };
}

export function describeSettings(settings: Settings): string {
  return (
    `${settings.rounds} rounds × ${settings.durationSeconds} s per variant after ${settings.warmupSeconds} s ` +
    'warm-up; medians over rounds'
  );
}
