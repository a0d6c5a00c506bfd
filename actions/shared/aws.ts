import { ActionError } from './errors.js'

/**
 * Settings every AWS client of ours shares. Region from the `aws-region` input, else the
 * environment configure-aws-credentials leaves; endpoints from the SDK's own
 * AWS_ENDPOINT_URL* variables, so stand-ins work without any code of ours.
 */
export interface ClientSettings {
  region: string
  retryMode: 'adaptive'
  maxAttempts: number
  customUserAgent: string
}

export const USER_AGENT = 'noblepay-deploy/1'

export function clientSettings(
  regionInput: string,
  env: NodeJS.ProcessEnv = process.env
): ClientSettings {
  const region = regionInput || env.AWS_REGION || env.AWS_DEFAULT_REGION || ''
  if (region === '') {
    throw new ActionError(
      "No AWS region: set the 'aws-region' input, or run aws-actions/configure-aws-credentials before this step."
    )
  }
  // Adaptive retries back off on throttling and transient 5xx; a poll loop on top of it
  // tolerates the rare poll that still fails.
  return { region, retryMode: 'adaptive', maxAttempts: 8, customUserAgent: USER_AGENT }
}
