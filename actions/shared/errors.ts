/**
 * One kind of error for everything an action reports to the user. Its message is the
 * whole `::error::` line: what went wrong, on which resource, and what to do next.
 */
export class ActionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ActionError'
  }
}

/** A bad input, reported before any resource is created or changed. */
export class InputError extends ActionError {
  constructor(
    readonly input: string,
    readonly value: string,
    fix: string
  ) {
    super(`Input '${input}' ${value === '' ? 'is empty' : `is '${value}'`}: ${fix}`)
    this.name = 'InputError'
  }
}

/** The message of anything thrown, for the one failure line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
