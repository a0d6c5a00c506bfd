/**
 * Rollbacks win, with the built ecs-deploy bundle run as the runner runs it (several processes
 * at once where the case is a race) against the ECS stand-in, the ECR stand-in holding the
 * image's scan, and a local server playing GitHub's compare API:
 * - a rollback marks the service, and a deploy of the commit it rolled back from (or an older
 *   one) is refused before any change, until a newer commit or allow-rolled-back;
 * - a deploy that prepared while a rollback ran ends superseded with no UpdateService;
 * - deploy.yml's undo after a failed smoke gate puts nothing back over another run's rollback;
 * - a second `previous` changes nothing, in whatever order the two rollbacks start;
 * - three rollback requests within a minute, queued by rollback.yml's own concurrency group.
 */
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs'
import type { EcrStandin } from '../../tools/ecr-standin/server.js'
import type { EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle, type BundleRun } from '../support/bundle.js'
import { startGateStandins, type GateStandins } from '../support/gate-standins.js'
import type { CompareApi } from '../support/github-api.js'
import { loadWorkflow } from '../support/workflows.js'

const C1 = 'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1'
const C2 = 'c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2'
const C3 = 'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3'
const TOKEN = 'ghs_markGateTokenNeverShown'
const DIGEST = `sha256:${'7a'.repeat(32)}`
const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@${DIGEST}`
const runUrl = (id: string) => `https://github.com/noblepay/api/actions/runs/${id}/attempts/1`

let standins: GateStandins
let ecs: EcsStandin
let ecr: EcrStandin
let github: CompareApi

beforeEach(async () => {
  standins = await startGateStandins()
  ;({ ecs, ecr, github } = standins)
  ecs.addCluster('payments')
  const v1 = ecs.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'local/api:v1', essential: true }],
    tags: [{ key: 'noblepay:commit', value: C1 }]
  })
  ecs.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition: v1,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true }
  })
})
afterEach(() => standins.close())

/** One run of the bundle: its own run id and commit, as separate workflow runs have. */
function step(run: string, commit: string, inputs: Record<string, string>): Promise<BundleRun> {
  return runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      'poll-interval-seconds': '0.1',
      'wait-for-minutes': '0.5',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ENDPOINT_URL_ECR: ecr.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      GITHUB_API_URL: github.url,
      GITHUB_RUN_ID: run,
      GITHUB_SHA: commit
    }
  })
}
const deploy = (run: string, commit: string, image: string, more: Record<string, string> = {}) =>
  step(run, commit, { image, 'github-token': TOKEN, ...more })
const rollBack = (run: string, to: string) => step(run, C1, { 'rollback-to': to })

const ok = (run: BundleRun) => [run.exitCode, run.outputs.status]
const calls = (operation: string) =>
  ecs.calls.filter(c => c.operation === operation && c.status === 200)
const primary = () => ecs.service('payments', 'api').deployments.find(d => d.status === 'PRIMARY')!
/** The service's tags, as DescribeServices with include TAGS answers. */
async function serviceTags() {
  const client = new ECSClient({
    endpoint: ecs.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
  })
  const { services } = await client.send(
    new DescribeServicesCommand({ cluster: 'payments', services: ['api'], include: ['TAGS'] })
  )
  return services?.[0]?.tags ?? []
}
const markedService = () =>
  calls('TagResource').some(c => String(c.input.resourceArn).includes(':service/'))
const errorLines = (run: BundleRun) => run.stdout.split('\n').filter(l => l.startsWith('::error::'))
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
async function until(condition: () => boolean, what: string, ms = 15_000) {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** api:2 (C2, run 100) then api:3 (C3, run 200) deployed: the service runs api:3. */
async function twoDeploys() {
  github.answer(C1, C2, { status: 'ahead', aheadBy: 1 })
  github.answer(C2, C3, { status: 'ahead', aheadBy: 1 })
  expect(ok(await deploy('100', C2, 'local/api:v2'))).toEqual([0, 'succeeded'])
  expect(ok(await deploy('200', C3, 'local/api:v3'))).toEqual([0, 'succeeded'])
  expect(primary().taskDefinition).toMatch(/api:3$/)
}

/**
 * The next push's deploy (C4, newer than C3, run 250), waiting on its image scan until the test
 * completes it with `ecr.setScanFindings(DIGEST, { findings: [] })`.
 */
async function deployWaitingOnScan(): Promise<{ finished: Promise<BundleRun> }> {
  const C4 = 'c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4'
  github.answer(C3, C4, { status: 'ahead', aheadBy: 1 })
  ecr.setScanFindings(DIGEST, { inProgressMs: 3_600_000 })
  const run = deploy('250', C4, IMAGE, { 'image-scan-severity': 'HIGH' })
  await until(
    () => ecr.calls.some(c => c.operation === 'DescribeImageScanFindings'),
    'the scan wait'
  )
  // Wrapped: an async function would otherwise wait for the run itself.
  return { finished: run }
}

describe('a rollback marks the service, and deploys respect the mark', () => {
  it('records from, commit, put back, run and time in one TagResource on the service', async () => {
    await twoDeploys()
    const rollback = await rollBack('300', 'previous')
    expect(ok(rollback)).toEqual([0, 'succeeded'])
    const onService = calls('TagResource').filter(c =>
      String(c.input.resourceArn).includes(':service/payments/api')
    )
    expect(onService).toHaveLength(1)
    const tags = Object.fromEntries((await serviceTags()).map(t => [t.key, t.value]))
    expect(tags).toEqual({
      'noblepay:rolled-back-from': expect.stringMatching(/:task-definition\/api:3$/),
      'noblepay:rolled-back-from-commit': C3,
      'noblepay:rolled-back-to': expect.stringMatching(/:task-definition\/api:2$/),
      'noblepay:rolled-back-by': runUrl('300'),
      'noblepay:rolled-back-at': expect.stringMatching(/^\d{4}-\d\d-\d\dT/)
    })
    // The mark is on the service before the rollback's own UpdateService.
    const [tagged] = onService
    const update = calls('UpdateService').at(-1)!
    expect(tagged!.at).toBeLessThanOrEqual(update.at)
  })

  it('a queued deploy of the rolled-back-from commit is refused before any change, naming the run; the summary shows the mark', async () => {
    await twoDeploys()
    await rollBack('300', 'previous')
    const [registered, updated] = [calls('RegisterTaskDefinition'), calls('UpdateService')]
    // The next push's pipeline, queued behind the incident, deploys C3 again.
    const queued = await deploy('201', C3, 'local/api:v3')
    expect(ok(queued)).toEqual([1, 'refused'])
    expect(errorLines(queued)).toEqual([
      expect.stringMatching(
        new RegExp(
          `Refused to deploy commit ${C3}: it is the commit a rollback took the service off, and run ${runUrl('300').replace(/[/.]/g, '\\$&')} rolled the service back from api:3 \\(commit ${C3}\\) to api:2`
        )
      )
    ])
    expect(errorLines(queued)[0]).toContain('allow-rolled-back: true')
    expect(queued.summary).toContain('| Status | refused |')
    expect(queued.summary).toContain('Rollback mark on the service')
    expect(queued.summary).toMatch(/\| api:3 +\| `c3c3/)
    expect(queued.summary).toContain(runUrl('300'))
    expect(calls('RegisterTaskDefinition')).toHaveLength(registered.length)
    expect(calls('UpdateService')).toHaveLength(updated.length)
    expect(primary().taskDefinition).toMatch(/api:2$/)
  })

  it('an older commit is refused too; a newer one (the fix) deploys; allow-rolled-back releases the marked one', async () => {
    await twoDeploys()
    await rollBack('300', 'previous')
    // The production deploy of C2 a reviewer approves after the incident: older than C3.
    github.answer(C3, C2, { status: 'behind', behindBy: 1 })
    const older = await deploy('150', C2, 'local/api:v2')
    expect(ok(older)).toEqual([1, 'refused'])
    expect(errorLines(older)[0]).toMatch(/it is not newer than c3c3.*GitHub compares it as behind/)
    // Diverged is not newer either.
    const C4 = 'c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4'
    github.answer(C3, C4, { status: 'diverged', aheadBy: 1, behindBy: 1 })
    expect(ok(await deploy('160', C4, 'local/api:v4'))).toEqual([1, 'refused'])
    // A person deploys C3 on purpose.
    const allowed = await deploy('161', C3, 'local/api:v3', { 'allow-rolled-back': 'true' })
    expect(ok(allowed)).toEqual([0, 'succeeded'])
    expect(allowed.stdout).toMatch(/::warning::Deploying c3c3.* because allow-rolled-back is true/)
    // The fix.
    const C5 = 'c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5'
    github.answer(C3, C5, { status: 'ahead', aheadBy: 2 })
    const fix = await deploy('400', C5, 'local/api:v5')
    expect(ok(fix)).toEqual([0, 'succeeded'])
    expect(fix.summary).toMatch(
      /Passed:\*\* `c5c5.*` is 2 commits ahead of `c3c3.*`, the commit rolled back from/
    )
  })
})

describe('a deploy never cuts in after a rollback', () => {
  it('a deploy that prepared (in its scan wait) while a rollback ran ends superseded with zero UpdateService calls', async () => {
    await twoDeploys()
    // The next push's deploy: a newer commit, its image scan still running.
    const { finished: started } = await deployWaitingOnScan()
    // The incident: api:3 is rolled back while that deploy waits.
    const rollback = await rollBack('300', 'previous')
    expect(ok(rollback)).toEqual([0, 'succeeded'])
    const updates = calls('UpdateService').length
    ecr.setScanFindings(DIGEST, { findings: [] })
    const run = await started
    expect(ok(run)).toEqual([1, 'superseded'])
    expect(errorLines(run).at(-1)).toMatch(
      new RegExp(
        `superseded just before its update: run .*runs/300/attempts/1 rolled the service back from api:3`
      )
    )
    expect(run.summary).toContain('| Status | superseded |')
    expect(run.summary).toContain('Rollback mark on the service')
    expect(calls('UpdateService')).toHaveLength(updates)
    expect(primary().taskDefinition).toBe(rollback.outputs['task-definition-arn'])
  })

  it('a deploy still waiting for the rollback to settle when it looks again stops too', async () => {
    await twoDeploys()
    // api:2 is slow to start again, so the rollback to it still settles when the deploy looks.
    ecs.setImageBehaviour(/local\/api:v2$/, { outcome: 'healthy', startDelayMs: 2_000 })
    const { finished: started } = await deployWaitingOnScan()
    const rollback = rollBack('300', 'previous')
    await until(markedService, 'the mark')
    ecr.setScanFindings(DIGEST, { findings: [] })
    const [run, back] = await Promise.all([started, rollback])
    expect(ok(back)).toEqual([0, 'succeeded'])
    expect(ok(run)).toEqual([1, 'superseded'])
    expect(calls('UpdateService').filter(c => c.at >= back.startedAt)).toHaveLength(1)
    expect(primary().taskDefinition).toMatch(/api:2$/)
  })

  it("deploy.yml's undo after a failed smoke gate puts nothing back over another run's rollback", async () => {
    await twoDeploys()
    // Run 200 deployed api:3 and is in its smoke gate when on-call goes back to api:1 (named).
    const incident = await rollBack('300', 'api:1')
    expect(ok(incident)).toEqual([0, 'succeeded'])
    const updates = calls('UpdateService').length
    // The gate fails; deploy.yml rolls back to its deploy step's previous revision, api:2.
    const undo = await step('200', C3, { 'rollback-to': 'api:2' })
    expect(ok(undo)).toEqual([1, 'superseded'])
    expect(errorLines(undo).at(-1)).toMatch(
      /run .*runs\/300\/attempts\/1 rolled the service back from api:3 .* to api:1 .*off the revision this run deployed\. This step puts nothing back/
    )
    expect(undo.summary).toContain('Rollback mark on the service')
    expect(calls('UpdateService')).toHaveLength(updates)
    expect(primary().taskDefinition).toMatch(/api:1$/)
  })
})

describe('a rollback is idempotent', () => {
  it('a second previous, after the first, changes nothing and names the run that rolled back', async () => {
    await twoDeploys()
    const first = await rollBack('300', 'previous')
    expect(first.outputs['task-definition-arn']).toMatch(/api:2$/)
    const updates = calls('UpdateService').length
    const second = await rollBack('301', 'previous')
    expect(ok(second)).toEqual([1, 'superseded'])
    expect(errorLines(second).at(-1)).toMatch(
      /the service already runs api:2, which a rollback put back: run .*runs\/300\/attempts\/1 rolled the service back from api:3.*name the revision with rollback-to: family:revision/
    )
    expect(second.summary).toContain(runUrl('300'))
    expect(calls('UpdateService')).toHaveLength(updates)
    // Going further back takes a named revision, which does what it says.
    const named = await rollBack('302', 'api:1')
    expect(ok(named)).toEqual([0, 'succeeded'])
    expect(primary().taskDefinition).toMatch(/api:1$/)
  })

  it('two previous rollbacks started at once take the service back once', async () => {
    await twoDeploys()
    const [a, b] = await Promise.all([rollBack('300', 'previous'), rollBack('301', 'previous')])
    // One of them rolls back; the other either steps aside (superseded, naming the first) or,
    // when it looked before the first's update, rolls out the same api:2 after it.
    const statuses = [a.outputs.status, b.outputs.status]
    expect(statuses).toContain('succeeded')
    for (const status of statuses) expect(['succeeded', 'superseded']).toContain(status)
    for (const run of [a, b]) {
      if (run.outputs.status === 'superseded')
        expect(errorLines(run).at(-1)).toMatch(
          /runs\/30[01]\/attempts\/1 rolled the service back from api:3/
        )
    }
    await until(() => primary().rolloutState === 'COMPLETED', 'the rollback to settle')
    expect(primary().taskDefinition).toMatch(/api:2$/)
    // Neither went on to api:1: the only revisions rolled out since are api:2.
    const since = calls('UpdateService').filter(c => c.at >= Math.min(a.startedAt, b.startedAt))
    expect(since.length).toBeGreaterThanOrEqual(1)
    for (const update of since) expect(String(update.input.taskDefinition)).toMatch(/api:2$/)
  })

  it('a second previous started while the first still rolls out waits for it, then changes nothing', async () => {
    await twoDeploys()
    ecs.setImageBehaviour(/local\/api:v2$/, { outcome: 'healthy', startDelayMs: 1_500 })
    const first = rollBack('300', 'previous')
    await until(() => calls('UpdateService').length === 3, "the first rollback's update")
    const second = await rollBack('301', 'previous')
    expect(ok(await first)).toEqual([0, 'succeeded'])
    expect(ok(second)).toEqual([1, 'superseded'])
    expect(calls('UpdateService')).toHaveLength(3)
    expect(primary().taskDefinition).toMatch(/api:2$/)
  })
})

describe("three rollback requests within a minute, queued by rollback.yml's own group", () => {
  /**
   * GitHub's rules ("Control the concurrency of workflows and jobs"): at most one running job
   * per group; with `queue: single` (the default) one pending job, a newer one cancelling it;
   * with `queue: max` up to 100 pending, run in the order they began to wait.
   */
  function queue(requests: Array<{ id: string; group: string }>, mode: unknown) {
    const running: string[] = []
    const pending: Array<{ id: string; group: string }> = []
    const cancelled: string[] = []
    for (const request of requests) {
      if (!running.some(r => requests.find(q => q.id === r)?.group === request.group)) {
        running.push(request.id)
        continue
      }
      const waiting = pending.filter(p => p.group === request.group)
      if (mode !== 'max') {
        for (const old of waiting) {
          pending.splice(pending.indexOf(old), 1)
          cancelled.push(old.id)
        }
      } else if (waiting.length >= 100) {
        cancelled.push(request.id)
        continue
      }
      pending.push(request)
    }
    return { order: [...running, ...pending.map(p => p.id)], cancelled }
  }

  const concurrency = loadWorkflow('.github/workflows/rollback.yml').doc.toJS().jobs.rollback
    .concurrency as {
    group: string
    queue?: string
  }
  // The group as GitHub evaluates it: the run's inputs, and the settings job's outputs (the
  // environment's settings, read once by settings.yml).
  const groupFor = (values: Record<string, string>) =>
    concurrency.group.replace(
      /\$\{\{\s*(?:inputs|needs\.[\w-]+\.outputs)\.([a-z-]+)\s*\}\}/g,
      (_, name: string) => values[name] ?? ''
    )

  it('run one at a time, none beside a deploy’s UpdateService, none dropped', async () => {
    await twoDeploys()
    // The next push's deploy is in its scan wait (deploy.yml's group, a different one).
    const { finished: pushed } = await deployWaitingOnScan()

    // Two engineers dispatch previous, a third names api:1, all for production / api.
    const requests = [
      { id: '300', to: 'previous' },
      { id: '301', to: 'previous' },
      { id: '302', to: 'api:1' }
    ].map(r => ({ ...r, group: groupFor({ environment: 'production', service: 'api' }) }))
    expect(new Set(requests.map(r => r.group))).toEqual(new Set(['ecs-rollback-production-api']))
    const planned = queue(requests, concurrency.queue)
    expect(planned).toEqual({ order: ['300', '301', '302'], cancelled: [] })
    // With GitHub's default, the second request would have been cancelled by the third:
    expect(queue(requests, undefined)).toEqual({ order: ['300', '302'], cancelled: ['301'] })

    // One at a time, in the group's order.
    const runs: Record<string, BundleRun> = {}
    for (const id of planned.order) {
      const request = requests.find(r => r.id === id)!
      runs[id] = await rollBack(id, request.to)
    }
    expect(ok(runs['300']!)).toEqual([0, 'succeeded'])
    expect(runs['300']!.outputs['task-definition-arn']).toMatch(/api:2$/)
    // The one GitHub's default would have cancelled is provably redundant: it changes nothing.
    expect(ok(runs['301']!)).toEqual([1, 'superseded'])
    expect(errorLines(runs['301']!).at(-1)).toContain('runs/300/attempts/1')
    expect(ok(runs['302']!)).toEqual([0, 'succeeded'])
    expect(primary().taskDefinition).toMatch(/api:1$/)
    for (const [a, b] of [
      ['300', '301'],
      ['301', '302']
    ] as const) {
      const first = runs[a]!
      expect(first.startedAt + first.durationMs).toBeLessThanOrEqual(runs[b]!.startedAt)
    }

    // The deploy that waited meanwhile never updates: the rollbacks' marks stop it.
    const updates = calls('UpdateService').length
    ecr.setScanFindings(DIGEST, { findings: [] })
    const run = await pushed
    expect(ok(run)).toEqual([1, 'superseded'])
    expect(calls('UpdateService')).toHaveLength(updates)
    expect(primary().taskDefinition).toMatch(/api:1$/)
  })
})
