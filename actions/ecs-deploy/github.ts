import { getOctokit } from '@actions/github'
import { describeError } from '../shared/errors.js'
import { redactor } from '../shared/redact.js'
import { realClock, type Clock } from '../shared/runner.js'

/** How the commit being deployed relates to the one running, as GitHub's compare API says. */
export type CommitComparison =
  | {
      kind: 'compared'
      /** Of head (the commit being deployed) relative to base (the running one). */
      status: 'ahead' | 'behind' | 'identical' | 'diverged'
      aheadBy: number
      behindBy: number
    }
  /** GitHub could not answer: 404, 401/403, 5xx, network, time-out. Says which. */
  | { kind: 'unavailable'; reason: string }

/** Compares two commits of a repository. */
export interface CommitComparer {
  compare(repository: string, base: string, head: string): Promise<CommitComparison>
}

export interface GitHubGatewayOptions {
  /** The API root; default GITHUB_API_URL (as the runner sets it, also on GitHub Enterprise Server). */
  baseUrl?: string
  /** The longest one request may take; default 10 s. */
  timeoutMs?: number
  /** Requests in all when GitHub answers 5xx or not at all; default 2. */
  attempts?: number
  /** Wait before trying again; default 1 s. */
  retryDelayMs?: number
  clock?: Clock
}

const STATUSES = new Set(['ahead', 'behind', 'identical', 'diverged'])

interface RequestFailure {
  status?: number
  message: string
}

/**
 * The GitHub calls ecs-deploy makes, through @actions/github's Octokit. Each request has its
 * own time limit; 5xx answers and silence are tried again once; any failure comes back as
 * `unavailable` with its reason, never as an exception. The token goes to Octokit's
 * Authorization header only, and is removed from any text that comes back.
 */
export class GitHubGateway implements CommitComparer {
  private readonly octokit: ReturnType<typeof getOctokit>
  private readonly redact: (text: string) => string

  constructor(
    token: string,
    private readonly options: GitHubGatewayOptions = {}
  ) {
    this.octokit = getOctokit(token, options.baseUrl ? { baseUrl: options.baseUrl } : {})
    this.redact = redactor([token])
  }

  async compare(repository: string, base: string, head: string): Promise<CommitComparison> {
    const [owner = '', repo = ''] = repository.split('/')
    if (owner === '' || repo === '')
      return { kind: 'unavailable', reason: `no repository to compare in ('${repository}')` }
    const timeoutMs = this.options.timeoutMs ?? 10_000
    const attempts = this.options.attempts ?? 2
    const clock = this.options.clock ?? realClock
    let failure: RequestFailure = { message: 'not asked' }
    const timedOut = { message: `no answer within ${Math.round(timeoutMs / 100) / 10}s` }
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const signal = AbortSignal.timeout(timeoutMs)
      try {
        const { data } = await this.octokit.rest.repos.compareCommits({
          owner,
          repo,
          base,
          head,
          // Only the status and counts are read: one commit per page keeps the answer small.
          per_page: 1,
          request: { signal }
        })
        // Octokit reads a body cut off by the time limit as empty rather than failing.
        if (signal.aborted) throw signal.reason
        if (!STATUSES.has(data.status)) {
          return {
            kind: 'unavailable',
            reason: `GitHub answered an unknown comparison status '${this.redact(String(data.status))}'`
          }
        }
        return {
          kind: 'compared',
          status: data.status,
          aheadBy: data.ahead_by,
          behindBy: data.behind_by
        }
      } catch (error) {
        failure = signal.aborted ? timedOut : requestFailure(error)
        // A 4xx is GitHub's answer about the request; asking again gives the same answer.
        const transient = failure.status === undefined || failure.status >= 500
        if (!transient || attempt === attempts) break
        await clock.sleep(this.options.retryDelayMs ?? 1000)
      }
    }
    return { kind: 'unavailable', reason: this.redact(explain(failure, repository)) }
  }
}

function requestFailure(error: unknown): RequestFailure {
  const status = (error as { status?: number }).status
  // Octokit reports a network failure as status 500 without a response.
  const answered = (error as { response?: unknown }).response !== undefined
  return {
    status: answered ? status : undefined,
    message: describeError(error).slice(0, 200)
  }
}

function explain(failure: RequestFailure, repository: string): string {
  switch (failure.status) {
    case undefined:
      return `GitHub could not be reached: ${failure.message}`
    case 401:
      return `GitHub refused the token (401 ${failure.message}); check the github-token input`
    case 403:
      return `GitHub answered 403 (${failure.message}); the token needs contents: read on ${repository}`
    case 404:
      return `GitHub answered 404 (${failure.message}): one of the commits is not in ${repository}, or the token cannot read it`
    default:
      return `GitHub answered ${failure.status} (${failure.message})`
  }
}
