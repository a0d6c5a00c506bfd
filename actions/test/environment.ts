import type { RunCommand } from '../shared/exec.js'

/**
 * What the runner gives a JavaScript action and not a plain `run:` step: the Actions runtime
 * token with the cache and results URLs (the tests could write cache entries that other
 * workflows of the repository restore), the OIDC request URL and token where the job may
 * ask for one (ACTIONS_ID_TOKEN_REQUEST_*), the action's inputs (INPUT_*) and the state of
 * its post step (STATE_*). The service's install, tests and compose run with none of it.
 */
export const ACTION_ONLY_VARIABLE = /^(ACTIONS_|INPUT_|STATE_)/i

/** The action's environment without the variables only an action gets. */
export function untrustedEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !ACTION_ONLY_VARIABLE.test(name)) kept[name] = value
  }
  return kept
}

/** Runs every command from `environment` instead of the action's own. */
export function inEnvironment(exec: RunCommand, environment: Record<string, string>): RunCommand {
  return (command, args, options = {}) => exec(command, args, { ...options, baseEnv: environment })
}
