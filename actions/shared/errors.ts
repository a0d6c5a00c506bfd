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

/**
 * An AWS SDK failure as one actionable sentence: what we were doing, what AWS said, and the
 * usual fix for the errors platform engineers meet (permissions, credentials, network).
 */
export function awsFailure(doing: string, error: unknown): ActionError {
  const name = error instanceof Error ? error.name : 'Error'
  const message = describeError(error)
  const hints: Record<string, string> = {
    AccessDeniedException: 'the role lacks the permission; see the IAM policy in the README',
    UnrecognizedClientException:
      'the credentials are not valid; check configure-aws-credentials ran in this job',
    ExpiredTokenException: 'the credentials expired; re-run the job',
    CredentialsProviderError:
      'no AWS credentials were found; run aws-actions/configure-aws-credentials first',
    ThrottlingException: 'AWS kept throttling after retries; try again shortly'
  }
  const network = /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|socket hang up/.test(message)
  const hint =
    hints[name] ??
    (network
      ? 'the endpoint could not be reached; check the region and any AWS_ENDPOINT_URL* variables'
      : '')
  return new ActionError(
    `${doing} failed: ${name === 'Error' ? '' : `${name}: `}${message}${hint ? `. ${hint[0].toUpperCase()}${hint.slice(1)}.` : ''}`
  )
}
