/**
 * A local HTTP server playing GitHub's compare API
 * (`GET /repos/{owner}/{repo}/compare/{base}...{head}`), answering each pair of commits as a
 * test sets it: a comparison, an HTTP error with GitHub's JSON body, or silence. Point
 * @actions/github at it with GITHUB_API_URL (or the gateway's baseUrl).
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type CompareAnswer =
  | { status: 'ahead' | 'behind' | 'identical' | 'diverged'; aheadBy?: number; behindBy?: number }
  | { http: number; message?: string }
  /** Accepts the request and never answers. */
  | 'hang'
  /** Sends the status line and headers, then never the body. */
  | 'hang-after-headers'

export interface CompareRequest {
  owner: string
  repo: string
  base: string
  head: string
  query: string
  /** Whether an Authorization header came, and with which scheme (never its value). */
  authScheme: string
  /** The header's value, so a test can check the token went there and nowhere else. */
  authorization: string
}

export interface CompareApi {
  url: string
  requests: CompareRequest[]
  /** How `base...head` is answered; unset pairs answer 404 as GitHub does for unknown commits. */
  answer(base: string, head: string, answer: CompareAnswer | CompareAnswer[]): void
  close(): Promise<void>
}

export async function startCompareApi(): Promise<CompareApi> {
  const answers = new Map<string, CompareAnswer[]>()
  const requests: CompareRequest[] = []
  const hanging = new Set<ServerResponse>()
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const match = /^\/repos\/([^/]+)\/([^/]+)\/compare\/(.+)\.\.\.(.+)$/.exec(url.pathname)
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
      response.end(JSON.stringify(body))
    }
    if (request.method !== 'GET' || !match) return json(404, { message: 'Not Found' })
    const [, owner = '', repo = '', base = '', head = ''] = match.map(decodeURIComponent)
    const authorization = String(request.headers.authorization ?? '')
    requests.push({
      owner,
      repo,
      base,
      head,
      query: url.search,
      authScheme: authorization.split(' ')[0] ?? '',
      authorization
    })
    const queue = answers.get(`${base}...${head}`) ?? []
    // Each answer is used once, the last one for every request after.
    const next = queue.length > 1 ? queue.shift() : queue[0]
    if (next === undefined)
      return json(404, {
        message: 'Not Found',
        documentation_url: 'https://docs.github.com/rest/commits/commits#compare-two-commits',
        status: '404'
      })
    if (next === 'hang') {
      hanging.add(response)
      return
    }
    if (next === 'hang-after-headers') {
      hanging.add(response)
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
      response.flushHeaders()
      return
    }
    if ('http' in next)
      return json(next.http, {
        message: next.message ?? 'Server Error',
        status: String(next.http)
      })
    const commit = (sha: string) => ({ sha, commit: { message: `commit ${sha.slice(0, 7)}` } })
    json(200, {
      url: `${url.origin}${url.pathname}`,
      status: next.status,
      ahead_by: next.aheadBy ?? 0,
      behind_by: next.behindBy ?? 0,
      total_commits: next.aheadBy ?? 0,
      base_commit: commit(base),
      merge_base_commit: commit(base),
      commits: next.aheadBy ? [commit(head)] : [],
      files: []
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    answer: (base, head, answer) =>
      answers.set(`${base}...${head}`, Array.isArray(answer) ? [...answer] : [answer]),
    close: () =>
      new Promise<void>(resolve => {
        for (const response of hanging) response.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
