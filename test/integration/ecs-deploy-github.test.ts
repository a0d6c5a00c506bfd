/**
 * ecs-deploy's GitHub gateway against a local HTTP server playing the compare API, through
 * @actions/github's Octokit as the bundle uses it.
 */
import { GitHubGateway } from '../../actions/ecs-deploy/github.js'
import { startCompareApi, type CompareAnswer, type CompareApi } from '../support/github-api.js'
import { FakeClock } from '../support/runner.js'

const TOKEN = 'ghs_compareTokenValue0123456789'
const RUNNING = 'a'.repeat(40)
const DEPLOYING = 'b'.repeat(40)
let api: CompareApi

beforeEach(async () => {
  api = await startCompareApi()
})
afterEach(async () => {
  await api.close()
})

const gateway = (options: { timeoutMs?: number; clock?: FakeClock } = {}) =>
  new GitHubGateway(TOKEN, {
    baseUrl: api.url,
    clock: options.clock ?? new FakeClock(),
    ...options
  })

describe('GitHubGateway.compare', () => {
  it.each([
    ['ahead', 3, 0],
    ['behind', 0, 2],
    ['diverged', 1, 4],
    ['identical', 0, 0]
  ] as const)('reads %s with its counts', async (status, aheadBy, behindBy) => {
    api.answer(RUNNING, DEPLOYING, { status, aheadBy, behindBy })
    expect(await gateway().compare('noblepay/api', RUNNING, DEPLOYING)).toEqual({
      kind: 'compared',
      status,
      aheadBy,
      behindBy
    })
  })

  it('asks for base...head of the repository with the token, one commit per page', async () => {
    api.answer(RUNNING, DEPLOYING, { status: 'ahead', aheadBy: 1 })
    await gateway().compare('noblepay/api', RUNNING, DEPLOYING)
    expect(api.requests).toEqual([
      expect.objectContaining({
        owner: 'noblepay',
        repo: 'api',
        base: RUNNING,
        head: DEPLOYING,
        query: '?per_page=1',
        authScheme: 'token',
        authorization: `token ${TOKEN}`
      })
    ])
  })

  it('says a 404 means a commit is missing or unreadable, and does not ask again', async () => {
    const result = await gateway().compare('noblepay/api', RUNNING, DEPLOYING)
    expect(result).toEqual({
      kind: 'unavailable',
      reason: expect.stringMatching(
        /^GitHub answered 404 \(Not Found.*\): one of the commits is not in noblepay\/api, or the token cannot read it$/
      )
    })
    expect(api.requests).toHaveLength(1)
  })

  it('says what a 403 needs', async () => {
    api.answer(RUNNING, DEPLOYING, { http: 403, message: 'Resource not accessible by integration' })
    expect(await gateway().compare('noblepay/api', RUNNING, DEPLOYING)).toEqual({
      kind: 'unavailable',
      reason:
        'GitHub answered 403 (Resource not accessible by integration); the token needs contents: read on noblepay/api'
    })
    expect(api.requests).toHaveLength(1)
  })

  it('tries a 5xx once more after a pause, then reports it', async () => {
    api.answer(RUNNING, DEPLOYING, { http: 502, message: 'Bad Gateway' })
    const clock = new FakeClock()
    expect(await gateway({ clock }).compare('noblepay/api', RUNNING, DEPLOYING)).toEqual({
      kind: 'unavailable',
      reason: 'GitHub answered 502 (Bad Gateway)'
    })
    expect(api.requests).toHaveLength(2)
    expect(clock.sleeps).toBe(1)
  })

  it('takes the answer of the second try after a 500', async () => {
    api.answer(RUNNING, DEPLOYING, [{ http: 500 }, { status: 'behind', behindBy: 1 }])
    expect(await gateway().compare('noblepay/api', RUNNING, DEPLOYING)).toMatchObject({
      kind: 'compared',
      status: 'behind'
    })
  })

  it.each(['hang', 'hang-after-headers'] as const)(
    'gives up on a server that %s within the time limit of each request',
    async hang => {
      api.answer(RUNNING, DEPLOYING, hang)
      const started = Date.now()
      const result = await gateway({ timeoutMs: 300 }).compare('noblepay/api', RUNNING, DEPLOYING)
      expect(result).toEqual({
        kind: 'unavailable',
        reason: 'GitHub could not be reached: no answer within 0.3s'
      })
      expect(api.requests).toHaveLength(2)
      expect(Date.now() - started).toBeLessThan(3_000)
    }
  )

  it('says when GitHub cannot be reached at all', async () => {
    const url = api.url
    await api.close()
    const result = await new GitHubGateway(TOKEN, {
      baseUrl: url,
      clock: new FakeClock()
    }).compare('noblepay/api', RUNNING, DEPLOYING)
    expect(result).toMatchObject({
      kind: 'unavailable',
      reason: expect.stringMatching(/^GitHub could not be reached: /)
    })
    api = await startCompareApi()
  })

  it('never hands the token back in a reason, even when the server echoes it', async () => {
    api.answer(RUNNING, DEPLOYING, { http: 401, message: `Bad credentials: ${TOKEN}` })
    const result = await gateway().compare('noblepay/api', RUNNING, DEPLOYING)
    expect(result).toEqual({
      kind: 'unavailable',
      reason: 'GitHub refused the token (401 Bad credentials: ***); check the github-token input'
    })
  })

  it('reports a comparison status it does not know instead of guessing', async () => {
    api.answer(RUNNING, DEPLOYING, { status: 'sideways' } as unknown as CompareAnswer)
    expect(await gateway().compare('noblepay/api', RUNNING, DEPLOYING)).toEqual({
      kind: 'unavailable',
      reason: "GitHub answered an unknown comparison status 'sideways'"
    })
  })

  it('needs a repository to compare in', async () => {
    expect(await gateway().compare('', RUNNING, DEPLOYING)).toEqual({
      kind: 'unavailable',
      reason: "no repository to compare in ('')"
    })
    expect(api.requests).toHaveLength(0)
  })
})
