import { context } from '@actions/github'

/** Who and what a run is for: the commit, repository, run and actor. */
export interface RunContext {
  sha: string
  repository: string
  runId: string
  runAttempt: string
  actor: string
  serverUrl: string
  runUrl: string
  sourceUrl: string
}

export function runContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  // @actions/github reads GITHUB_* once at import; fall back to the environment so a
  // local rehearsal (no GitHub event) still gets sensible values.
  // context.repo throws without GITHUB_REPOSITORY, so read that variable directly.
  const repository = env.GITHUB_REPOSITORY ?? ''
  const serverUrl = context.serverUrl || env.GITHUB_SERVER_URL || 'https://github.com'
  const runId = String(context.runId || env.GITHUB_RUN_ID || '')
  return {
    sha: context.sha || env.GITHUB_SHA || '',
    repository,
    runId,
    runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1',
    actor: context.actor || env.GITHUB_ACTOR || '',
    serverUrl,
    runUrl: repository && runId ? `${serverUrl}/${repository}/actions/runs/${runId}` : '',
    sourceUrl: repository ? `${serverUrl}/${repository}` : ''
  }
}
