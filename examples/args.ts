// Command-line options shared by the examples: where the ensemble is, and integer options with defaults.

/** The dev ensemble that `npm start` (`synod dev`) runs. */
export const devEndpoints = ['127.0.0.1:4401', '127.0.0.1:4402', '127.0.0.1:4403'];

/** `--endpoints a,b,c`, else $SYNOD_ENDPOINTS, else the dev ensemble. */
export function endpointsFrom(option: string | undefined): string[] {
  const list = option ?? process.env['SYNOD_ENDPOINTS'];
  return list === undefined || list.trim() === '' ? devEndpoints : list.split(',').map((e) => e.trim()).filter((e) => e !== '');
}

/** A positive integer option, or exits with a usage error. */
export function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer, got "${text}"`);
    process.exit(2);
  }
  return value;
}
