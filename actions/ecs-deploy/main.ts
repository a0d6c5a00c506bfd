import { ECSClient, type Service, type TaskDefinition } from '@aws-sdk/client-ecs'
import { clientSettings } from '../shared/aws.js'
import { attemptTimeoutFor, AwsCaller, AwsRejection } from '../shared/aws-call.js'
import { runContext, type RunContext } from '../shared/context.js'
import { ActionError, describeError } from '../shared/errors.js'
import { environmentInputs, Inputs, type InputSource } from '../shared/inputs.js'
import { realClock, type Clock, type Runner } from '../shared/runner.js'
import { readDeployConfig, type DeployConfig } from './config.js'
import { EcsGateway, NotApplied } from './ecs.js'
import { EcsTasksGateway } from './ecs-tasks.js'
import { ecrEndpointOverridden, ecrGatewayFor, ecrImageByDigest, imageWaitError } from './ecr.js'
import { checkGates, gateDependencies, type GateDependencies } from './gates.js'
import { answerHook, reportTestTrafficGate } from './hooks.js'
import { describeStrategy, lifecycleStrategy, watchServiceDeployment } from './lifecycle.js'
import { crashLogsText, fetchCrashLogs, logsGateway } from './logs.js'
import { runMigration } from './migration.js'
import { refuseTestTrafficWithoutGate } from './pause.js'
import { ourServiceDeploymentArn, shortWaitRefusal } from './service-deployment.js'
import { planDeploy } from './plan.js'
import { resolveRollbackTarget } from './previous.js'
import * as provenance from './provenance.js'
import { markRolledBack, recover, rollBackInFlight } from './recovery.js'
import * as mark from './rollback-mark.js'
import {
  deployReport,
  firstFailureLine,
  serviceState,
  type RolloutResult,
  type StepRecord
} from './report.js'
import { describeDeployment, primaryDeployment } from './rollout.js'
import { applyScaling, planScaling, scalingGateway } from './scaling.js'
import { decideStatus } from './status.js'
import {
  chooseContainer,
  readTemplate,
  renderTaskDefinition,
  runTag,
  shortRevision,
  traceTags,
  TRACE_TAGS
} from './task-definition.js'
import { Timeline } from './timeline.js'
import { elbGateway } from './elb.js'
import { reportPhases } from './phase-reads.js'
import { refuseServingFor, servingCheckFor } from './serving.js'
import { settleService, watchDeployment, type EventFeed } from './watch.js'

export interface Dependencies {
  inputs: InputSource
  clock: Clock
  context: RunContext
  /** Built from the region once inputs are read, unless a test hands one in. */
  ecsClient?: ECSClient
  /** The GitHub and ECR gateways of the gates, unless a test hands them in. */
  gates?: GateDependencies
  /** gh and the ECR login of the provenance gate, unless a test hands them in. */
  provenance?: provenance.ProvenanceDependencies
}

/** The longest the first error waits for a stopped-task lookup already under way. */
const FIRST_ERROR_GRACE_MS = 1000

/** A check said no before anything changed (a foreign deployment controller, a rollout that would not settle). */
export class Refusal extends ActionError {
  constructor(message: string) {
    super(message)
    this.name = 'Refusal'
  }
}

/**
 * One deploy, step by step. Whatever happens, the step ends with a `status` output and a
 * summary that say what the service runs; the decision is made in status.ts.
 */
export async function run(runner: Runner, overrides: Partial<Dependencies> = {}): Promise<void> {
  const deps: Dependencies = {
    inputs: environmentInputs(),
    clock: realClock,
    context: runContext(),
    ...overrides
  }
  const step: StepRecord = {
    started: deps.clock.now(),
    facts: { refused: false, changeSent: false, changeRejected: false, unexpectedError: false },
    timeline: new Timeline('ecs-deploy')
  }
  try {
    await deploy(runner, deps, step)
  } catch (error) {
    step.error = error
    if (error instanceof Refusal) step.facts.refused = true
    else if (error instanceof mark.TakenOverByRollback) mark.recordTakeover(step, error)
    else if (!(error instanceof ActionError) || step.facts.changeSent)
      step.facts.unexpectedError = true
    if (step.facts.changeSent && (error instanceof AwsRejection || error instanceof NotApplied))
      step.facts.changeRejected = step.updating === true
  }
  // Report, then enrich: a stopped-task lookup still under way gets one attempt's time to land
  // in the summary and the last error.
  if (step.rollout?.kind === 'failed' && step.config)
    await step.rollout.stopped.settle(attemptTimeoutFor(step.config.pollMs))
  const status = decideStatus(step.facts)
  runner.setOutput('status', status)
  const report = deployReport(step, status, deps.clock.now())
  await runner.summary(report.summary)
  if (status !== 'succeeded') throw new ActionError(report.message)
}

async function deploy(runner: Runner, deps: Dependencies, step: StepRecord): Promise<void> {
  const { clock } = deps
  const config = readDeployConfig(new Inputs(deps.inputs))
  step.config = config
  step.context = deps.context
  const caller = new AwsCaller({
    clock,
    deadline: step.started + config.waitMs,
    attemptTimeoutMs: attemptTimeoutFor(config.pollMs),
    backoffMs: Math.min(1000, config.pollMs / 2),
    maxBackoffMs: Math.max(config.pollMs, 1000),
    onRetry: (what, failure, error, waitMs) =>
      runner.info(
        `  ${what}: ${failure === 'throttled' ? 'throttled' : `no answer (${describeError(error)})`}; trying again in ${(waitMs / 1000).toFixed(1)}s.`
      )
  })
  const ecsClient =
    deps.ecsClient ?? new ECSClient(clientSettings(config.region, process.env, 'caller'))
  const ecs = new EcsGateway(ecsClient, caller)
  step.ecs = ecs
  const region = () =>
    config.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || ''

  // 1. The service as it is, and whether this action can deploy to it at all.
  const first = await ecs
    .until(step.started + config.waitMs)
    .describeService(config.cluster, config.service)
  refuseForeignController(first, config)
  const strategy = lifecycleStrategy(first)
  if (strategy) runner.info(describeStrategy(first))
  refuseServingFor(strategy, config.waitUntil)
  if (config.waitUntil === 'test-traffic' && !config.continueDeployment)
    refuseTestTrafficWithoutGate(first, config.service)

  // 1b. Answering a PAUSE hook of a deployment under way instead of deploying.
  if (config.continueDeployment) return answerHook(ecs, runner, clock, config, step, first)

  const markAtStart = mark.readRollbackMark(first.tags)
  if (config.rollbackTo && !config.dryRun)
    step.markSummary = await mark.checkRollbackRequest(ecs, config.rollbackTo, first, deps.context)

  // 2. An incident rollback while a blue/green deployment still bakes: a traffic switch.
  if (config.rollbackTo && strategy && !config.dryRun) {
    const switched = await rollBackInFlight(ecs, runner, clock, config, first, step)
    if (switched) return
  }

  // A LINEAR or CANARY rollout the wait cannot cover is refused before any change.
  const tooShort = config.waitForStability ? shortWaitRefusal(first, strategy, config) : undefined
  if (tooShort && !config.dryRun) throw new Refusal(tooShort)

  // 3. A rollout already in flight is waited for: the baseline is what it settles on.
  const settle = async (look: Service) => {
    const from = clock.now()
    const settled = await settleService(ecs, runner, clock, {
      cluster: config.cluster,
      service: config.service,
      deadline: step.started + config.waitMs,
      pollMs: config.pollMs,
      first: look
    })
    if (clock.now() > from) step.timeline.span('settling', from, clock.now())
    if (settled.kind === 'in-flight') {
      throw new Refusal(
        `Service '${config.service}' did not settle: ${settled.reason}. Nothing was changed; deploy again once it has settled.`
      )
    }
    step.previousArn = settled.baseline.proven?.taskDefinition ?? ''
    runner.setOutput('previous-task-definition-arn', step.previousArn)
    return settled
  }
  let settled = await settle(first)
  let service = settled.service
  const proven = settled.baseline.proven
  runner.info(
    proven
      ? `Service ${config.service} in cluster ${config.cluster} runs ${shortRevision(proven.taskDefinition)}, proven by ${describeDeployment(proven)}.`
      : `Service ${config.service} in cluster ${config.cluster} has no completed deployment: there is no proven revision to return to.`
  )

  // The proven revision, read once: the base of the next one, and the commit the gate compares.
  const baseArn = proven?.taskDefinition ?? service.taskDefinition ?? ''
  let base: ReturnType<EcsGateway['describeTaskDefinition']> | undefined
  const baseRevision = () =>
    (base ??= ecs.until(step.started + config.waitMs).describeTaskDefinition(baseArn))

  // The mark of an incident rollback: a deploy of the commit it rolled back from is refused.
  const gateDeps = () =>
    deps.gates ??
    gateDependencies(runner, {
      region: config.region,
      clock,
      deadline: clock.now() + config.waitMs,
      pollMs: config.pollMs
    })
  if (!config.rollbackTo) {
    const marked = await mark.checkAgainstMark(
      {
        mark: mark.readRollbackMark(service.tags),
        deployingCommit: deps.context.sha,
        allowRolledBack: config.allowRolledBack
      },
      {
        repository: deps.context.repository,
        token: config.gates.githubToken,
        commits: token => gateDeps().commits(token)
      },
      runner
    )
    step.markSummary = marked.summary
    if (marked.verdict.verdict === 'refuse') throw new Refusal(marked.verdict.reason)
  }

  // 4. The image must be there: a digest ECR does not hold (a push that failed, replication to
  // this region not set up or not done yet) fails now, not as tasks that cannot pull it.
  if (!config.rollbackTo)
    await waitForImage(runner, config, caller.until(clock.now() + config.waitMs))

  // 5. The gates. rollback-to never runs them: it puts back a revision that ran before (older
  // code on purpose), and an incident rollback must not wait on a scan.
  if (!config.rollbackTo) {
    const attested = await provenance.gate(
      config,
      deps.context,
      deps.provenance ??
        provenance.provenanceDependencies(runner, { region: config.region, caller })
    )
    step.gateSummary = attested?.summary
    if (attested?.kind === 'refused') throw new Refusal(attested.reason)
    const gate = await checkGates(
      {
        service: config.service,
        runningRevision: shortRevision(baseArn),
        repository: deps.context.repository,
        commit: deps.context.sha,
        runningCommit: async () =>
          baseArn
            ? (await baseRevision()).tags.find(t => t.key === TRACE_TAGS.commit)?.value
            : undefined,
        pollMs: config.pollMs
      },
      config.gates,
      gateDeps()
    )
    step.gateSummary = [step.gateSummary, gate.summary].filter(Boolean).join('\n\n')
    if (gate.kind === 'refused') throw new Refusal(gate.reason)
  }

  // From here the rollout has its own deadline: the step ends within it and one poll.
  const rolloutStarted = clock.now()
  const rollout = ecs.until(rolloutStarted + config.waitMs)
  const scaling = config.scaling
    ? { gateway: scalingGateway(region(), caller.until(rolloutStarted + config.waitMs)) }
    : undefined

  // 6. A plan instead of a deploy: render, diff, change nothing.
  if (config.dryRun) {
    await planOnly(runner, config, deps.context, step, service, baseRevision, rollout, scaling)
    return
  }

  // 7. The revision to roll out: registered from the base (once), or the rollback's target.
  let registered: TaskDefinition | undefined
  if (config.rollbackTo) {
    step.target = await rollbackTarget(rollout, runner, config, service)
  } else {
    registered = await registerNextRevision(
      rollout,
      runner,
      config,
      deps.context,
      baseArn,
      baseRevision
    )
    step.target = registered.taskDefinitionArn ?? ''
    step.timeline.mark('registered', clock.now(), shortRevision(step.target))
  }
  runner.setOutput('task-definition-arn', step.target)

  // 8. Migrations run on the new revision before any task of it serves.
  if (config.migration && registered) {
    const from = clock.now()
    const migration = await runner.group('Migration before the rollout', () =>
      runMigration(
        {
          cluster: config.cluster,
          service,
          taskDefinition: registered!,
          containerName: chooseContainer(registered!, config.containerName),
          config: config.migration!,
          runId: deps.context.runId,
          runAttempt: deps.context.runAttempt,
          pollMs: config.pollMs,
          logLines: config.logLines || 20,
          region: region()
        },
        {
          tasks: new EcsTasksGateway(ecsClient, caller),
          logsFor: r => logsGateway(r, caller.until(clock.now() + config.migration!.timeoutMs)),
          runner,
          clock
        }
      )
    )
    step.timeline.span('migration', from, clock.now())
    step.migrationSummary = migration.summary
    if (migration.status === 'failed') throw new ActionError(migration.message)
    runner.info(migration.message)
  }

  // 9. Auto-scaling as declared: only what differs is changed.
  if (config.scaling && scaling) {
    const result = await applyScaling(
      config.scaling,
      { cluster: config.cluster, service: config.service },
      scaling
    )
    runner.info(result.line)
    for (const note of result.notes) runner.info(note)
    step.scalingSummary = result.summary
  }

  // A rollback marks the service before its change, so that a deploy about to update sees it.
  if (config.rollbackTo)
    await mark.recordRollbackMark(rollout, runner, {
      cluster: config.cluster,
      service,
      to: step.target,
      started: step.started,
      context: deps.context
    })

  // 10. One more look just before the change: another deploy may have started while this
  // step checked gates, registered and migrated. If so, wait for it again rather than cut in.
  // A rollback that started after this step did takes the service over: no change at all.
  const latest = await rollout.describeService(config.cluster, config.service)
  if (!sameDeployments(latest, service)) {
    runner.info(
      `The service changed while this step prepared (${serviceState(latest)}); waiting for it to settle again.`
    )
    settled = await settle(latest)
  } else settled = { ...settled, service: latest }
  service = settled.service
  await mark.checkBeforeUpdate(
    rollout,
    config.rollbackTo,
    markAtStart,
    service,
    deps.context,
    step.target
  )
  const current = primaryDeployment(service)

  // 11. The update: once, read back if its reply is lost.
  step.facts.changeSent = true
  step.updating = true
  const updated = await rollout.updateService({
    cluster: config.cluster,
    service: config.service,
    taskDefinition: step.target,
    desiredCount: config.desiredCount,
    forceNewDeployment: config.forceNewDeployment,
    prior: {
      deploymentIds: (service.deployments ?? []).map(d => d.id ?? ''),
      taskDefinition: service.taskDefinition
    }
  })
  step.updating = false
  step.timeline.mark('updated', clock.now())
  const ours = updated.deployment ?? (config.forceNewDeployment ? undefined : current)
  step.deploymentId = ours?.id ?? ''
  runner.setOutput('deployment-id', step.deploymentId)
  const serviceDeploymentArn = strategy
    ? await ourServiceDeploymentArn(rollout, clock, runner, {
        ...{ cluster: config.cluster, service: config.service, pollMs: config.pollMs },
        ...{ deadline: rolloutStarted + config.waitMs, before: service, updated },
        taskDefinition: step.target
      })
    : ''
  step.serviceDeploymentArn = serviceDeploymentArn
  if (serviceDeploymentArn) runner.setOutput('service-deployment-arn', serviceDeploymentArn)
  if (updated.readBack) {
    runner.info(
      `The reply to UpdateService was lost; reading the service back shows ${step.deploymentId || 'the update'} under way, so the step carries on with it.`
    )
  }
  runner.info(
    `Updated the service: ${step.deploymentId || 'no new deployment'} rolls out ${shortRevision(step.target)}.`
  )
  if (config.rollbackTo && service.taskDefinition && service.taskDefinition !== step.target)
    await markRolledBack(rollout, runner, service.taskDefinition, deps.context)

  if (!config.waitForStability) {
    runner.info('Not waiting for the rollout (wait-for-service-stability: false).')
    step.facts.rollout = 'not-waited'
    return
  }

  // 12. The watch: every poll printed, a failure reported the moment ECS marks it.
  // Events from before our update belong to earlier deployments: ECS's own clock tells.
  const events: EventFeed = {
    since: ours?.createdAt?.valueOf() ?? updated.startedAt,
    seen: new Set()
  }
  const watchedFrom = clock.now()
  const watched = { id: step.deploymentId ?? '', taskDefinition: step.target ?? '' }
  const elb = () => elbGateway(region(), caller.until(rolloutStarted + config.waitMs))
  const serving = servingCheckFor(config.waitUntil, {
    ecs: rollout,
    elb,
    clock,
    cluster: config.cluster,
    deploymentId: watched.id
  })
  const result: RolloutResult = await runner.group(
    `Rollout of ${shortRevision(step.target)} (${step.deploymentId})`,
    () =>
      strategy && serviceDeploymentArn
        ? watchServiceDeployment(ecs, runner, clock, {
            cluster: config.cluster,
            service: config.service,
            serviceDeploymentArn,
            deployment: watched,
            until: config.waitUntil,
            since: updated.startedAt,
            deadline: rolloutStarted + config.waitMs,
            pollMs: config.pollMs,
            events,
            earlier: [service.currentServiceDeployment ?? ''].filter(
              arn => arn !== serviceDeploymentArn
            )
          })
        : watchDeployment(ecs, runner, clock, {
            cluster: config.cluster,
            service: config.service,
            deployment: { ...watched, baseline: step.previousArn || undefined },
            deadline: rolloutStarted + config.waitMs,
            pollMs: config.pollMs,
            events,
            serving: serving && (look => serving.look(look))
          })
  )
  step.rollout = result
  step.facts.rollout = result.kind
  recordRollout(step, result, watchedFrom, clock.now())
  reportTestTrafficGate(runner, step, result)
  const phases = {
    ecs,
    elb,
    runner,
    clock,
    before: service,
    updatedAt: updated.startedAt,
    ended: clock.now(),
    serving
  }
  if (result.kind !== 'failed') return void (await reportPhases(step, phases))

  // 13. The first error, as soon as the failure is seen and before any rollback. When no
  // stopped task is known yet, a lookup under way gets a moment (half a poll, at most 1 s:
  // the error still comes within one poll of ECS marking the failure).
  if (result.stopped.tasks.length === 0)
    await result.stopped.settle(Math.min(config.pollMs / 2, FIRST_ERROR_GRACE_MS))
  runner.error(firstFailureLine(config, result))
  step.timeline.mark('failed', clock.now())

  // 14. The crashed container's own words, while the rollback starts: never before the error.
  const crashLogs =
    config.logLines > 0 && registered
      ? result.stopped.settle(attemptTimeoutFor(config.pollMs)).then(() =>
          fetchCrashLogs(
            {
              taskDefinition: registered!,
              stoppedTasks: result.stopped.tasks,
              containerName: chooseContainer(registered!, config.containerName),
              count: config.logLines,
              region: region()
            },
            r => logsGateway(r, caller.until(clock.now() + 30_000))
          )
        )
      : undefined
  if (crashLogs) {
    step.crashLogs = await crashLogs
    for (const line of crashLogsText(step.crashLogs)) runner.info(line)
  }
  step.recovery = await recover(ecs, runner, clock, config, step, result, events)
  step.facts.recovery = step.recovery.result?.kind
  await reportPhases(step, phases)
}

/** Waits, within the deadline, for an ECR image given by digest to exist in its registry. */
async function waitForImage(
  runner: Runner,
  config: DeployConfig,
  caller: AwsCaller
): Promise<void> {
  const image = ecrImageByDigest(config.image, ecrEndpointOverridden(process.env))
  if (!image) return
  const presence = await ecrGatewayFor(image, config.region, caller).waitForImage(image, {
    deadline: caller.deadline,
    pollMs: config.pollMs,
    onPoll: line => runner.info(line)
  })
  const error = imageWaitError(image, presence, image.region ?? config.region)
  if (error) throw error
}

/** Registers nothing, updates nothing: the plan of what a deploy would change. */
async function planOnly(
  runner: Runner,
  config: DeployConfig,
  context: RunContext,
  step: StepRecord,
  service: Service,
  baseRevision: () => ReturnType<EcsGateway['describeTaskDefinition']>,
  ecs: EcsGateway,
  scaling: { gateway: ReturnType<typeof scalingGateway> } | undefined
): Promise<void> {
  const running = (await baseRevision()).taskDefinition
  let next: TaskDefinition
  if (config.rollbackTo) {
    step.target = await rollbackTarget(ecs, runner, config, service)
    next = (await ecs.describeTaskDefinition(step.target)).taskDefinition
  } else {
    const base = config.taskDefinitionPath
      ? await readTemplate(config.taskDefinitionPath)
      : await baseRevision()
    const containerName = chooseContainer(base.taskDefinition, config.containerName)
    next = renderTaskDefinition({
      base: base.taskDefinition,
      baseTags: base.tags,
      containerName,
      image: config.image,
      environment: config.environment,
      trace: { commit: context.sha, run: runTag(context), image: config.image }
    }) as TaskDefinition
  }
  const scalingPlan =
    config.scaling && scaling
      ? await planScaling(
          config.scaling,
          { cluster: config.cluster, service: config.service },
          scaling
        )
      : undefined
  const plan = planDeploy({
    running,
    next,
    service,
    desiredCount: config.desiredCount,
    scaling: scalingPlan
  })
  runner.info(`Dry run: nothing is registered, migrated, scaled or updated.`)
  for (const line of plan.lines) runner.info(line)
  runner.setOutput('changes', plan.output)
  step.planSummary = plan.summary
  step.facts.planned = true
}

/** Whether two looks at a service show the same deployments (none started or ended between). */
function sameDeployments(a: Service, b: Service): boolean {
  const ids = (s: Service) =>
    (s.deployments ?? [])
      .map(d => d.id)
      .sort()
      .join(' ')
  return ids(a) === ids(b)
}

/** The rollout on the step's timeline: tasks starting, running or failing, and the stages. */
function recordRollout(step: StepRecord, result: RolloutResult, from: number, to: number): void {
  const label = shortRevision(step.target)
  if ('stages' in result) step.timeline.stages(result.stages, to)
  if (result.kind === 'succeeded') {
    step.timeline.span('tasks-starting', from, to, label)
    step.timeline.mark('succeeded', to)
  } else if (result.kind === 'failed') step.timeline.span('tasks-failing', from, to, label)
  else step.timeline.span('tasks-starting', from, to, label)
}

/** Only the ECS deployment controller can be driven by UpdateService with a new revision. */
function refuseForeignController(service: Service, config: DeployConfig): void {
  const type = service.deploymentController?.type ?? 'ECS'
  if (type === 'ECS') return
  const how =
    type === 'CODE_DEPLOY'
      ? 'Deploy it through CodeDeploy, or move it to ECS blue/green: recreate or update the service with deploymentController type ECS and deploymentConfiguration.strategy BLUE_GREEN, then deploy with this action.'
      : 'Its deployments are made by an external controller (task sets); deploy through that controller.'
  throw new Refusal(
    `Service '${config.service}' uses the ${type} deployment controller, which does not take a new task definition through UpdateService. Nothing was registered or changed. ${how}`
  )
}

async function registerNextRevision(
  ecs: EcsGateway,
  runner: Runner,
  config: DeployConfig,
  context: RunContext,
  currentArn: string,
  baseRevision: () => ReturnType<EcsGateway['describeTaskDefinition']>
): Promise<TaskDefinition> {
  const base = config.taskDefinitionPath
    ? await readTemplate(config.taskDefinitionPath)
    : await baseRevision()
  const containerName = chooseContainer(base.taskDefinition, config.containerName)
  const trace = { commit: context.sha, run: runTag(context), image: config.image }
  const input = renderTaskDefinition({
    base: base.taskDefinition,
    baseTags: base.tags,
    containerName,
    image: config.image,
    environment: config.environment,
    trace
  })
  // The run's own tags find this revision again if the reply to the registration is lost.
  const registered = await ecs.registerTaskDefinition(input, {
    tags: traceTags(trace),
    listingLagMs: Math.min(10_000, Math.max(2_000, 5 * config.pollMs))
  })
  const arn = registered.taskDefinition.taskDefinitionArn ?? ''
  if (registered.readBack) {
    runner.info(
      `The reply to RegisterTaskDefinition was lost; ${shortRevision(arn)} carries this run's tags, so it is the one registered.`
    )
  }
  runner.info(
    `Registered ${shortRevision(arn)} from ${config.taskDefinitionPath || shortRevision(currentArn)}: container ${containerName} runs ${config.image}.`
  )
  return registered.taskDefinition
}

async function rollbackTarget(
  ecs: EcsGateway,
  runner: Runner,
  config: DeployConfig,
  service: Service
): Promise<string> {
  const target = await resolveRollbackTarget(
    ecs,
    config.cluster,
    { name: config.service, taskDefinition: service.taskDefinition ?? '' },
    config.rollbackTo
  )
  runner.info(`Rolling back to ${shortRevision(target.taskDefinitionArn)}: ${target.why}.`)
  return target.taskDefinitionArn
}
