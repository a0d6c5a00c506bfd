import { ActionError } from './errors.js'

/**
 * Settings every AWS client of ours shares. Region from the `aws-region` input, else the
 * environment configure-aws-credentials leaves; endpoints from the SDK's own
 * AWS_ENDPOINT_URL* variables, so stand-ins work without any code of ours.
 */
export interface ClientSettings {
  region: string
  retryMode: 'adaptive' | 'standard'
  maxAttempts: number
  customUserAgent: string
}

export const USER_AGENT = 'noblepay-deploy/1'

export function clientSettings(
  regionInput: string,
  env: NodeJS.ProcessEnv = process.env,
  retries: 'sdk' | 'caller' = 'sdk'
): ClientSettings {
  const region = regionInput || env.AWS_REGION || env.AWS_DEFAULT_REGION || ''
  if (region === '') {
    throw new ActionError(
      "No AWS region: set the 'aws-region' input, or run aws-actions/configure-aws-credentials before this step."
    )
  }
  // 'sdk': adaptive retries back off on throttling and transient 5xx.
  // 'caller': one attempt per send; an AwsCaller retries under a deadline and reads back a
  // change whose reply was lost, which the SDK's retries would instead send twice.
  // With one attempt, 'standard' keeps the SDK from delaying sends after a throttle on its own
  // (the adaptive mode's client-side rate limiter): the caller's backoff is the only wait.
  return {
    region,
    retryMode: retries === 'sdk' ? 'adaptive' : 'standard',
    maxAttempts: retries === 'sdk' ? 8 : 1,
    customUserAgent: USER_AGENT
  }
}
