import type { Service } from '@aws-sdk/client-ecs'
import { InputError } from '../../actions/shared/errors.js'
import { Inputs } from '../../actions/shared/inputs.js'
import type { EcsGateway } from '../../actions/ecs-deploy/ecs.js'
import type { CommitComparison } from '../../actions/ecs-deploy/github.js'
import {
  checkAgainstMark,
  checkBeforeUpdate,
  checkRollbackRequest,
  describeMark,
  judgeAgainstMark,
  judgeRollbackRequest,
  MARK_TAGS,
  markSummary,
  needsMarkComparison,
  readAllowRolledBack,
  readRollbackMark,
  recordRollbackMark,
  recordTakeover,
  rollbackMarkTags,
  rollbackSinceStart,
  sameMark,
  TakenOverByRollback,
  type RollbackMark
} from '../../actions/ecs-deploy/rollback-mark.js'
import { RecordingRunner } from '../support/runner.js'

const ARN = (revision: number) =>
  `arn:aws:ecs:eu-west-1:123456789012:task-definition/noblepay-api:${revision}`
const BAD = 'b'.repeat(40)
const FIX = 'f'.repeat(40)
const RUN = 'https://github.com/noblepay/api/actions/runs/300/attempts/1'
const mark: RollbackMark = {
  from: ARN(42),
  fromCommit: BAD,
  to: ARN(41),
  run: RUN,
  at: '2026-12-04T17:00:00.000Z'
}
const compared = (status: 'ahead' | 'behind' | 'identical' | 'diverged'): CommitComparison => ({
  kind: 'compared',
  status,
  aheadBy: status === 'ahead' || status === 'diverged' ? 2 : 0,
  behindBy: status === 'behind' || status === 'diverged' ? 1 : 0
})

describe('the mark as tags', () => {
  it('writes the five fields and reads them back', () => {
    const tags = rollbackMarkTags(mark)
    expect(tags.map(t => t.key)).toEqual(Object.values(MARK_TAGS))
    expect(readRollbackMark([{ key: 'team', value: 'payments' }, ...tags])).toEqual(mark)
  })

  it('writes an unknown commit as empty, so an older mark’s commit does not stay behind', () => {
    const tags = rollbackMarkTags({ ...mark, fromCommit: '' })
    expect(tags).toContainEqual({ key: MARK_TAGS.fromCommit, value: '' })
  })

  it('reads no mark without the revisions and the run', () => {
    expect(readRollbackMark(undefined)).toBeUndefined()
    expect(readRollbackMark([])).toBeUndefined()
    for (const key of [MARK_TAGS.from, MARK_TAGS.to, MARK_TAGS.run]) {
      const partial = rollbackMarkTags(mark).filter(t => t.key !== key)
      expect(readRollbackMark(partial)).toBeUndefined()
    }
  })

  it('compares marks field by field', () => {
    expect(sameMark(mark, { ...mark })).toBe(true)
    expect(sameMark(undefined, undefined)).toBe(true)
    expect(sameMark(mark, undefined)).toBe(false)
    expect(sameMark(undefined, mark)).toBe(false)
    for (const field of Object.keys(MARK_TAGS) as Array<keyof RollbackMark>)
      expect(sameMark(mark, { ...mark, [field]: 'other' })).toBe(false)
  })

  it('reads allow-rolled-back as a YAML boolean, false by default', () => {
    const inputs = (value: string) =>
      new Inputs(name => (name === 'allow-rolled-back' ? value : ''))
    expect(readAllowRolledBack(inputs(''))).toBe(false)
    expect(readAllowRolledBack(inputs('True'))).toBe(true)
    expect(() => readAllowRolledBack(inputs('yes'))).toThrow(InputError)
  })
})

describe('a deploy and the mark', () => {
  const facts = (deployingCommit: string, allowRolledBack = false) => ({
    mark,
    deployingCommit,
    allowRolledBack
  })

  it('asks GitHub only when there is a mark with a commit, another commit, and no allowance', () => {
    expect(needsMarkComparison(facts(FIX))).toBe(true)
    expect(needsMarkComparison(facts(BAD))).toBe(false)
    expect(needsMarkComparison(facts(''))).toBe(false)
    expect(needsMarkComparison(facts(FIX, true))).toBe(false)
    expect(needsMarkComparison({ ...facts(FIX), mark: undefined })).toBe(false)
    expect(needsMarkComparison({ ...facts(FIX), mark: { ...mark, fromCommit: '' } })).toBe(false)
  })

  it('passes without a mark', () => {
    expect(judgeAgainstMark({ ...facts(BAD), mark: undefined }, undefined)).toEqual({
      verdict: 'pass',
      detail: 'no rollback mark on the service'
    })
  })

  it('refuses the commit rolled back from, naming the rollback’s run and both releases', () => {
    const verdict = judgeAgainstMark(facts(BAD), undefined)
    expect(verdict).toMatchObject({ verdict: 'refuse', detail: 'the commit rolled back from' })
    const reason = (verdict as { reason: string }).reason
    expect(reason).toContain(`Refused to deploy commit ${BAD}`)
    expect(reason).toContain(`run ${RUN} rolled the service back from noblepay-api:42`)
    expect(reason).toContain('to noblepay-api:41 at 2026-12-04T17:00:00.000Z')
    expect(reason).toMatch(
      /Nothing was changed\. Deploy a commit newer than b+ \(the fix\), or set allow-rolled-back: true/
    )
  })

  it.each(['behind', 'identical', 'diverged'] as const)(
    'refuses a commit GitHub compares as %s: it is not newer',
    status => {
      const verdict = judgeAgainstMark(facts(FIX), compared(status))
      expect(verdict.verdict).toBe('refuse')
      expect((verdict as { reason: string }).reason).toContain(`GitHub compares it as ${status}`)
    }
  )

  it('passes a commit GitHub compares as ahead: the fix', () => {
    expect(judgeAgainstMark(facts(FIX), compared('ahead'))).toEqual({
      verdict: 'pass',
      detail: `\`${FIX}\` is 2 commits ahead of \`${BAD}\`, the commit rolled back from`
    })
  })

  it('lets another commit through with a warning when the order cannot be told, saying why', () => {
    const unavailable = judgeAgainstMark(facts(FIX), {
      kind: 'unavailable',
      reason: 'GitHub answered 502'
    })
    expect(unavailable.verdict).toBe('pass')
    expect((unavailable as { warning: string }).warning).toMatch(
      /^Whether commit f+ is newer than b+, which the rollback by run .*runs\/300\/attempts\/1 rolled the service back from noblepay-api:42.*, cannot be told \(GitHub answered 502\)\. Deploying anyway\.$/
    )
    const unasked = judgeAgainstMark(facts(FIX), undefined)
    expect((unasked as { warning: string }).warning).toContain('no github-token was given')
    // The commit rolled back from itself needs no GitHub to be refused; nor does no commit.
    expect(judgeAgainstMark(facts(BAD), undefined).verdict).toBe('refuse')
    expect(judgeAgainstMark(facts(''), undefined)).toMatchObject({
      verdict: 'refuse',
      detail: 'no commit'
    })
  })

  it('passes on allow-rolled-back, with a warning naming the rollback', () => {
    const verdict = judgeAgainstMark(facts(BAD, true), undefined)
    expect(verdict).toMatchObject({
      verdict: 'pass',
      detail: 'deployed because allow-rolled-back is true'
    })
    expect((verdict as { warning: string }).warning).toContain(`run ${RUN}`)
  })

  it('passes with a warning when the revision rolled back from had no commit tag', () => {
    const verdict = judgeAgainstMark(
      { ...facts(BAD), mark: { ...mark, fromCommit: '' } },
      undefined
    )
    expect(verdict.verdict).toBe('pass')
    expect((verdict as { warning: string }).warning).toMatch(/has no noblepay:commit tag/)
  })

  it('asks GitHub base = the commit rolled back from, head = the deploying one, and shows the mark', async () => {
    const runner = new RecordingRunner()
    const asked: string[][] = []
    const commits = (token: string) => ({
      compare: async (repository: string, base: string, head: string) => {
        asked.push([token, repository, base, head])
        return compared('behind')
      }
    })
    const result = await checkAgainstMark(
      facts(FIX),
      { repository: 'noblepay/api', token: 't', commits },
      runner
    )
    expect(asked).toEqual([['t', 'noblepay/api', BAD, FIX]])
    expect(result.verdict.verdict).toBe('refuse')
    expect(result.summary).toContain('**Rollback mark on the service**')
    expect(result.summary).toContain(`| noblepay-api:42 | \`${BAD}\` | noblepay-api:41 | ${RUN} |`)
    expect(result.summary).toContain('**Refused:**')
    // Without a token GitHub is not asked, and without a mark there is no summary.
    const none = await checkAgainstMark(
      facts(FIX),
      { repository: 'noblepay/api', token: '', commits },
      runner
    )
    expect(asked).toHaveLength(1)
    expect(none.verdict.verdict).toBe('pass')
    expect(runner.warnings).toEqual([expect.stringMatching(/no github-token was given/)])
    const clean = await checkAgainstMark(
      { ...facts(FIX), mark: undefined },
      { repository: 'noblepay/api', token: 't', commits },
      runner
    )
    expect(clean).toEqual({
      verdict: { verdict: 'pass', detail: 'no rollback mark on the service' },
      summary: ''
    })
  })

  it('sees a rollback since the start only when the mark changed', () => {
    expect(rollbackSinceStart(undefined, undefined)).toBeUndefined()
    expect(rollbackSinceStart(mark, { ...mark })).toBeUndefined()
    expect(rollbackSinceStart(undefined, mark)).toBe(mark)
    const later = { ...mark, run: 'https://github.com/noblepay/api/actions/runs/301/attempts/1' }
    expect(rollbackSinceStart(mark, later)).toBe(later)
    // A mark gone is no rollback.
    expect(rollbackSinceStart(mark, undefined)).toBeUndefined()
  })
})

describe('a rollback and the mark', () => {
  const OWN = 'https://github.com/noblepay/api/actions/runs/200/attempts/1'
  const request = (overrides: Partial<Parameters<typeof judgeRollbackRequest>[0]> = {}) => ({
    rollbackTo: 'previous',
    current: ARN(41),
    mark,
    ownRun: OWN,
    ...overrides
  })

  it('goes on without a mark, or with its own', () => {
    expect(judgeRollbackRequest(request({ mark: undefined }))).toEqual({ kind: 'proceed' })
    expect(judgeRollbackRequest(request({ ownRun: RUN }))).toEqual({ kind: 'proceed' })
  })

  it('a previous on the revision a rollback put back changes nothing, naming the run', () => {
    const verdict = judgeRollbackRequest(request())
    expect(verdict.kind).toBe('taken-over')
    expect((verdict as { reason: string }).reason).toMatch(
      /^the service already runs noblepay-api:41, which a rollback put back: run .*runs\/300\/attempts\/1 rolled .*name the revision with rollback-to: family:revision\.$/
    )
  })

  it('a previous on another revision, and a named revision, go on', () => {
    expect(judgeRollbackRequest(request({ current: ARN(43) }))).toEqual({ kind: 'proceed' })
    expect(judgeRollbackRequest(request({ rollbackTo: 'noblepay-api:40' }))).toEqual({
      kind: 'proceed'
    })
  })

  it("puts nothing back over another run's rollback of this run's own deployment", () => {
    const verdict = judgeRollbackRequest(
      request({ rollbackTo: ARN(41), current: ARN(39), fromRun: OWN })
    )
    expect(verdict.kind).toBe('taken-over')
    expect((verdict as { reason: string }).reason).toMatch(
      /off the revision this run deployed\. This step puts nothing back/
    )
    // A run with no run tag of its own claims no revision.
    expect(
      judgeRollbackRequest(
        request({ rollbackTo: ARN(41), current: ARN(39), ownRun: '', fromRun: '' })
      )
    ).toEqual({ kind: 'proceed' })
  })

  it('steps aside for another run making the same change, and only for that', () => {
    const same = request({ rollbackTo: 'noblepay-api:41', current: ARN(42), target: ARN(41) })
    expect(judgeRollbackRequest(same)).toMatchObject({ kind: 'taken-over' })
    expect(judgeRollbackRequest({ ...same, target: ARN(40) })).toEqual({ kind: 'proceed' })
    expect(judgeRollbackRequest({ ...same, current: ARN(43) })).toEqual({ kind: 'proceed' })
  })
})

describe('the mark’s two calls, through a gateway', () => {
  const OWN = 'https://github.com/noblepay/api/actions/runs/200/attempts/1'
  const context = {
    sha: FIX,
    repository: 'noblepay/api',
    runId: '200',
    runAttempt: '1',
    actor: 'on-call',
    serverUrl: 'https://github.com',
    runUrl: 'https://github.com/noblepay/api/actions/runs/200',
    sourceUrl: 'https://github.com/noblepay/api'
  }
  const service = (taskDefinition: string, tags = rollbackMarkTags(mark)): Service => ({
    serviceName: 'noblepay-api',
    serviceArn: 'arn:aws:ecs:eu-west-1:123456789012:service/payments/noblepay-api',
    taskDefinition,
    tags
  })
  /** A gateway that knows each revision's tags, and records the tags put on the service. */
  function gateway(revisionTags: Record<string, Array<{ key: string; value: string }>> = {}) {
    const tagged: Array<{ cluster: string; tags: unknown }> = []
    const ecs = {
      findTaskDefinition: async (reference: string) =>
        reference in revisionTags ? { taskDefinition: {}, tags: revisionTags[reference]! } : null,
      tagService: async (cluster: string, _service: Service, tags: unknown) => {
        tagged.push({ cluster, tags })
      }
    }
    return { ecs: ecs as unknown as EcsGateway, tagged }
  }

  it('records the mark in one call: the commit read from the revision rolled back from', async () => {
    const { ecs, tagged } = gateway({ [ARN(42)]: [{ key: 'noblepay:commit', value: BAD }] })
    const runner = new RecordingRunner()
    const started = Date.parse('2026-12-04T17:00:00.000Z')
    const written = await recordRollbackMark(ecs, runner, {
      cluster: 'payments',
      service: service(ARN(42), []),
      to: ARN(41),
      started,
      context
    })
    const expected = { from: ARN(42), fromCommit: BAD, to: ARN(41), run: OWN, at: mark.at }
    expect(written).toEqual(expected)
    expect(tagged).toEqual([{ cluster: 'payments', tags: rollbackMarkTags(expected) }])
    expect(runner.lines.join('\n')).toMatch(/Marked service 'noblepay-api': run .*runs\/200/)
  })

  it('writes no mark for a rollback to what already runs, and warns when the mark cannot be written', async () => {
    const same = gateway()
    const runner = new RecordingRunner()
    const request = { cluster: 'payments', to: ARN(42), started: 0, context }
    expect(
      await recordRollbackMark(same.ecs, runner, { ...request, service: service(ARN(42)) })
    ).toBeUndefined()
    expect(same.tagged).toEqual([])
    const denied = {
      findTaskDefinition: async () => null,
      tagService: async () => {
        throw new Error('AccessDeniedException: not authorized to perform ecs:TagResource')
      }
    } as unknown as EcsGateway
    const written = await recordRollbackMark(denied, runner, {
      ...request,
      to: ARN(41),
      service: service(ARN(42))
    })
    expect(written).toBeUndefined()
    expect(runner.warnings).toEqual([
      expect.stringMatching(
        /Could not mark service 'noblepay-api' as rolled back \(.*AccessDeniedException.*\); a queued deploy of noblepay-api:42's commit will not be refused\. Grant ecs:TagResource on the service\./
      )
    ])
  })

  it('judges a rollback on the service’s mark, reading the run of the revision rolled back from', async () => {
    const { ecs } = gateway({ [ARN(42)]: [{ key: 'noblepay:run', value: OWN }] })
    // No mark, or this run's own: nothing to say.
    expect(await checkRollbackRequest(ecs, 'previous', service(ARN(42), []), context)).toBe('')
    const own = rollbackMarkTags({ ...mark, run: OWN })
    expect(await checkRollbackRequest(ecs, 'previous', service(ARN(41), own), context)).toBe('')
    // Another run rolled back this run's own deployment: taken over.
    await expect(checkRollbackRequest(ecs, ARN(41), service(ARN(41)), context)).rejects.toThrow(
      /^Rolling back 'noblepay-api' to arn:.*noblepay-api:41 was superseded: run .*runs\/300\/attempts\/1 rolled .*off the revision this run deployed/
    )
    // A named revision elsewhere goes on, with the mark in the summary.
    const other = gateway()
    const summary = await checkRollbackRequest(
      other.ecs,
      'noblepay-api:39',
      service(ARN(41)),
      context
    )
    expect(summary).toContain(
      '**Rolling back to noblepay-api:39:** this request goes on from there.'
    )
  })

  it('stops a deploy before its update only for a mark it did not start with', async () => {
    const { ecs } = gateway()
    await expect(
      checkBeforeUpdate(ecs, '', mark, service(ARN(41)), context, ARN(43))
    ).resolves.toBeUndefined()
    await expect(
      checkBeforeUpdate(ecs, '', undefined, service(ARN(41), []), context, ARN(43))
    ).resolves.toBeUndefined()
    const error = await checkBeforeUpdate(
      ecs,
      '',
      undefined,
      service(ARN(41)),
      context,
      ARN(43)
    ).catch(e => e)
    expect(error).toBeInstanceOf(TakenOverByRollback)
    expect(error.message).toMatch(
      /^Deploying to 'noblepay-api' was superseded just before its update: run .*runs\/300\/attempts\/1 rolled the service back from noblepay-api:42 .*, after this step started\. This step changed nothing/
    )
    const step: { facts: { takenOver?: boolean }; markSummary?: string } = { facts: {} }
    recordTakeover(step, error)
    expect(step.facts.takenOver).toBe(true)
    expect(step.markSummary).toContain('**Superseded:** this step changed nothing.')
    // A rollback is judged again instead: previous on the revision put back is taken over.
    await expect(
      checkBeforeUpdate(ecs, 'previous', undefined, service(ARN(41)), context, ARN(40))
    ).rejects.toThrow(/already runs noblepay-api:41/)
  })
})

describe('what the mark says', () => {
  it('in one sentence, with the commit and the time when known', () => {
    expect(describeMark(mark)).toBe(
      `run ${RUN} rolled the service back from noblepay-api:42 (commit ${BAD}) to noblepay-api:41 at 2026-12-04T17:00:00.000Z`
    )
    expect(describeMark({ ...mark, fromCommit: '', at: '' })).toBe(
      `run ${RUN} rolled the service back from noblepay-api:42 to noblepay-api:41`
    )
  })

  it('in the summary: a table of the mark, then the decision', () => {
    expect(markSummary(mark, '**Passed:** x.')).toBe(
      [
        '**Rollback mark on the service**',
        '| Rolled back from | Commit | Put back | By run | At |\n| --- | --- | --- | --- | --- |\n' +
          `| noblepay-api:42 | \`${BAD}\` | noblepay-api:41 | ${RUN} | 2026-12-04T17:00:00.000Z |`,
        '**Passed:** x.'
      ].join('\n\n')
    )
    expect(markSummary({ ...mark, fromCommit: '', at: '' }, '')).toContain(
      `| noblepay-api:42 | (none) | noblepay-api:41 | ${RUN} | (unknown) |`
    )
  })

  it('in each verdict’s detail and reason', () => {
    const facts = { mark, deployingCommit: FIX, allowRolledBack: false }
    expect(judgeAgainstMark({ ...facts, mark: { ...mark, fromCommit: '' } }, undefined)).toEqual({
      verdict: 'pass',
      detail: 'the revision rolled back from has no noblepay:commit tag',
      warning: `Not checked against the rollback by run ${RUN}: noblepay-api:42 has no noblepay:commit tag, so its commit is not known.`
    })
    expect(judgeAgainstMark({ ...facts, deployingCommit: '' }, undefined)).toEqual({
      verdict: 'refuse',
      detail: 'no commit',
      reason: `Refused to deploy commit (none): this run has no commit (GITHUB_SHA is empty), and ${describeMark(mark)}. Nothing was changed. Deploy a commit newer than ${BAD} (the fix), or set allow-rolled-back: true to deploy this one on purpose.`
    })
    expect(judgeAgainstMark({ ...facts, deployingCommit: BAD }, undefined)).toMatchObject({
      reason: expect.stringContaining(
        `: it is the commit a rollback took the service off, and run ${RUN}`
      )
    })
    expect(judgeAgainstMark(facts, undefined)).toEqual({
      verdict: 'pass',
      detail: `not compared with \`${BAD}\`, the commit rolled back from: no github-token was given to ask GitHub`,
      warning: `Whether commit ${FIX} is newer than ${BAD}, which the rollback by run ${RUN} rolled the service back from noblepay-api:42 (commit ${BAD}) to noblepay-api:41 at 2026-12-04T17:00:00.000Z, cannot be told (no github-token was given to ask GitHub). Deploying anyway.`
    })
    expect(
      judgeAgainstMark(facts, { kind: 'compared', status: 'ahead', aheadBy: 1, behindBy: 0 })
    ).toMatchObject({ detail: expect.stringContaining(' is 1 commit ahead of ') })
    expect(judgeAgainstMark(facts, compared('behind'))).toMatchObject({
      detail: 'behind of the commit rolled back from'
    })
    expect(
      (
        judgeAgainstMark({ ...facts, deployingCommit: '', allowRolledBack: true }, undefined) as {
          warning: string
        }
      ).warning
    ).toMatch(/^Deploying this commit although run /)
  })

  it('in the log: a warning for a pass with one, a line for a clean pass over a mark, nothing without a mark', async () => {
    const commits = () => ({ compare: async () => compared('ahead') })
    const github = { repository: 'noblepay/api', token: 't', commits }
    const facts = { mark, deployingCommit: FIX, allowRolledBack: false }
    const clean = new RecordingRunner()
    const passed = await checkAgainstMark(facts, github, clean)
    expect(clean.warnings).toEqual([])
    expect(clean.lines).toEqual([
      `Rollback mark: passed, ${FIX} is 2 commits ahead of ${BAD}, the commit rolled back from.`
    ])
    expect(passed.summary).toMatch(
      /\n\n\*\*Passed:\*\* `f+` is 2 commits ahead of `b+`, the commit rolled back from\.$/
    )
    const warned = new RecordingRunner()
    await checkAgainstMark({ ...facts, allowRolledBack: true }, github, warned)
    expect(warned.warnings).toHaveLength(1)
    expect(warned.lines.filter(l => !l.startsWith('::warning::'))).toEqual([])
    const refused = new RecordingRunner()
    const result = await checkAgainstMark({ ...facts, deployingCommit: BAD }, github, refused)
    expect([refused.lines, refused.warnings]).toEqual([[], []])
    expect(result.summary).toMatch(/\n\n\*\*Refused:\*\* the commit rolled back from\.$/)
    const none = new RecordingRunner()
    await checkAgainstMark({ ...facts, mark: undefined }, github, none)
    expect([none.lines, none.warnings]).toEqual([[], []])
  })

  it('when another run makes the same change', () => {
    const verdict = judgeRollbackRequest({
      rollbackTo: 'previous',
      current: ARN(42),
      mark,
      ownRun: 'other',
      target: ARN(41)
    })
    expect(verdict).toEqual({
      kind: 'taken-over',
      reason: `${describeMark(mark)}, the same change this request makes, and that rollback goes on. Nothing was changed by this step.`
    })
  })
})
