import { ActionError } from '../shared/errors.js'
import { environmentInputs, type InputSource } from '../shared/inputs.js'
import { redactor } from '../shared/redact.js'
import { realClock, type Clock, type Runner } from '../shared/runner.js'
import { headerSecrets, readConfig } from './config.js'
import { runGate } from './poll.js'
import { httpProbe, type Probe } from './probe.js'
import { attemptLine, failureMessage, passLine, planLine, summaryMarkdown } from './report.js'

export interface Dependencies {
  input: InputSource
  clock: Clock
  probe: Probe
}

/**
 * The smoke gate: poll the health endpoint until enough attempts in a row pass, then set
 * the outputs and the summary; a failure throws one ActionError naming the last reason.
 */
export async function run(runner: Runner, deps: Partial<Dependencies> = {}): Promise<void> {
  const input = deps.input ?? environmentInputs()

  // Header values are masked before anything else, even before the input is parsed.
  const secrets = headerSecrets(input('headers'))
  for (const secret of secrets) runner.setSecret(secret)
  // A server may echo a header back in its body; nothing shown to the user carries one.
  const redact = redactor(secrets)

  const config = readConfig(input)
  const say = (line: string) => runner.info(redact(line))
  say(planLine(config))

  const result = await runGate(config, {
    clock: deps.clock ?? realClock,
    probe: deps.probe ?? httpProbe,
    onAttempt: attempt => say(attemptLine(attempt, config.requiredSuccesses))
  })

  const last = result.attempts[result.attempts.length - 1]!
  runner.setOutput('status', result.status)
  runner.setOutput('version', result.lastHealth?.health.version ?? '')
  runner.setOutput('attempts', String(result.attempts.length))
  runner.setOutput('response-time-ms', String(last.verdict.responseTimeMs))
  await runner.summary(redact(summaryMarkdown(result, config)))

  if (!result.passed) throw new ActionError(redact(failureMessage(result, config)))
  say(passLine(result, config))
}
