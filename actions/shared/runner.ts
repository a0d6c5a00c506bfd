import * as core from '@actions/core'
import { describeError } from './errors.js'

/**
 * Everything an action says to the runner. Actions take a Runner instead of importing
 * @actions/core, so tests hand in a recording one and assert on what a user would see.
 */
export interface Runner {
  info(line: string): void
  warning(message: string): void
  /** An `::error::` annotation that does not end the step (the first sign of a failure). */
  error(message: string): void
  /** An `::error file=…,line=…::` annotation shown at a place in the code (e.g. a failing test). */
  annotate?(message: string, place: AnnotationPlace): void
  group<T>(title: string, body: () => Promise<T>): Promise<T>
  setOutput(name: string, value: string): void
  setSecret(value: string): void
  /** Appends Markdown to the job summary. */
  summary(markdown: string): Promise<void>
  saveState(name: string, value: string): void
  getState(name: string): string
}

/** Where an annotation points: a path relative to the repository root, and a line. */
export interface AnnotationPlace {
  file: string
  line?: number
  title?: string
}

/** The runner as GitHub provides it: workflow commands, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY. */
export function githubRunner(): Runner {
  return {
    info: line => core.info(line),
    warning: message => core.warning(message),
    error: message => core.error(message),
    annotate: (message, place) =>
      core.error(message, { file: place.file, startLine: place.line, title: place.title }),
    group: (title, body) => core.group(title, body),
    setOutput: (name, value) => core.setOutput(name, value),
    setSecret: value => core.setSecret(value),
    summary: async markdown => {
      // Without $GITHUB_STEP_SUMMARY (a local run) there is nowhere to write; not an error.
      if (!process.env.GITHUB_STEP_SUMMARY) return
      await core.summary.addRaw(markdown, true).write()
    },
    saveState: (name, value) => core.saveState(name, value),
    getState: name => core.getState(name)
  }
}

/** Time, injected so a test plays minutes of rollout in milliseconds. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: ms => new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * The one way every action ends: a thrown error becomes a single `core.setFailed`
 * (one `::error::` line, exit code 1).
 */
export async function runAction(
  main: (runner: Runner) => Promise<void>,
  runner = githubRunner()
): Promise<void> {
  try {
    await main(runner)
  } catch (error) {
    core.setFailed(describeError(error))
  }
}

/**
 * Ends the process once the step has said everything: work still in the background (a
 * lookup that only enriches a report already written) must not hold the step open.
 */
export async function exitWhenDone(): Promise<never> {
  await new Promise<void>(resolve => process.stdout.write('', () => resolve()))
  process.exit(process.exitCode ?? 0)
}
