/**
 * Task execution for the ECS stand-in. The scheduler (model.ts) decides which tasks should
 * exist; a TaskRuntime runs them and reports what happened to them. The simulated runtime
 * below plays per-image behaviours on a timeline; a runtime backed by real containers only
 * has to implement the same three methods.
 */

export interface TaskContainerSpec {
  name: string
  image: string
  essential: boolean
  /** RunTask's command override: runs instead of the container definition's command. */
  command?: string[]
  /** RunTask's environment override: added to (or replacing) the definition's variables. */
  environment?: Array<{ name: string; value: string }>
}

/** One line a container logged, as the awslogs driver sends it to CloudWatch Logs. */
export interface ContainerLogEvent {
  /** Epoch ms. */
  timestamp: number
  message: string
}

export interface TaskLaunch {
  taskArn: string
  containers: TaskContainerSpec[]
  /** The task already runs when the service is created (a steady service); report no start. */
  alreadyRunning?: boolean
}

export interface ContainerExit {
  name: string
  exitCode?: number
  reason?: string
}

/** What a runtime reports about one task: it came up, or it stopped (and why). */
export type TaskReport =
  | { taskArn: string; lastStatus: 'RUNNING' }
  | {
      taskArn: string
      lastStatus: 'STOPPED'
      /** Set when the task stopped on its own; the scheduler sets its own for stops it asked for. */
      stopCode?: string
      stoppedReason?: string
      containers: ContainerExit[]
    }

export interface TaskRuntime {
  /** Starts a task; its progress comes back through collect(). */
  start(launch: TaskLaunch): void
  /** The scheduler no longer wants this task: stop it (report STOPPED when it is down). */
  stop(taskArn: string): void
  /** Reports that became due since the last call, oldest first. Called once per tick. */
  collect(now: number): TaskReport[]
  /**
   * What one container of a task has logged so far, oldest first; undefined while it has not
   * started (the awslogs driver creates the stream when the container starts) or is unknown.
   */
  logs?(
    taskArn: string,
    container: string
  ): ContainerLogEvent[] | undefined | Promise<ContainerLogEvent[] | undefined>
  close?(): Promise<void>
}

/** What a task whose image matches does, in simulated time. */
export type TaskBehaviour =
  | {
      outcome: 'healthy'
      /** From launch to RUNNING. */
      startDelayMs?: number
      /** Lines the container logs as it starts. */
      logLines?: string[]
    }
  | {
      outcome: 'crash'
      /** From launch to STOPPED. */
      afterMs?: number
      /** When set (and below afterMs), the task shows RUNNING from then until it crashes. */
      runningAfterMs?: number
      /** Exit code of the essential container; default 1. */
      exitCode?: number
      /** The container's `reason`, e.g. an error message; none by default, as ECS. */
      reason?: string
      /** The task's stoppedReason; default "Essential container in task exited". */
      stoppedReason?: string
      /** Default EssentialContainerExited. */
      stopCode?: string
      /** Lines the container logs, spread from its start until it crashes. */
      logLines?: string[]
    }
  | {
      outcome: 'fail-to-start'
      /** From launch to STOPPED, never RUNNING. */
      afterMs?: number
      /** Both the task's stoppedReason and the container's reason. */
      reason?: string
    }

export const ESSENTIAL_CONTAINER_EXITED = 'Essential container in task exited'

/** What a container run with a command override (RunTask) does, in simulated time. */
export interface CommandBehaviour {
  /** Exit code of the container; default 0. */
  exitCode?: number
  /** Lines it logs: every lineIntervalMs, or else spread evenly over its run. */
  logLines?: string[]
  lineIntervalMs?: number
  /** From RUNNING to its exit; default 1 s. Infinity: it runs until stopped. */
  durationMs?: number
  /** From launch to RUNNING; default 0. */
  startDelayMs?: number
  /** The container's `reason`; none by default, as ECS. */
  reason?: string
}

interface CommandRule {
  command: string | RegExp
  image?: string | RegExp
  behaviour: CommandBehaviour
}

/** Containers whose lines are kept, oldest dropped first. */
const MAX_LOGGED_CONTAINERS = 2000

function matches(pattern: string | RegExp, value: string): boolean {
  return typeof pattern === 'string'
    ? pattern === value
    : new RegExp(pattern.source, pattern.flags).test(value)
}

interface BehaviourRule {
  image: string | RegExp
  behaviour: TaskBehaviour
}

interface TimelineEntry {
  at: number
  seq: number
  report: TaskReport
}

export interface SimulatedRuntimeOptions {
  /** Behaviour of images no rule matches. */
  defaultBehaviour: TaskBehaviour
  /** From a stop request to STOPPED. */
  stopDelayMs: number
  /** What a command override no rule matches does; default exit 0 after 1 s. */
  defaultCommandBehaviour?: CommandBehaviour
  now?: () => number
}

/** Plays each task's behaviour on a timeline; tasks are chosen by container image. */
export class SimulatedTaskRuntime implements TaskRuntime {
  private readonly rules: BehaviourRule[] = []
  private readonly commandRules: CommandRule[] = []
  /** Per task and container: when its stream exists from, and what it logs (future lines too). */
  private readonly logged = new Map<string, { startAt: number; events: ContainerLogEvent[] }>()
  private timeline: TimelineEntry[] = []
  private readonly containers = new Map<string, TaskContainerSpec[]>()
  private seq = 0
  private readonly now: () => number

  constructor(private readonly options: SimulatedRuntimeOptions) {
    this.now = options.now ?? Date.now
  }

  /** Later rules win over earlier ones for the same image. */
  setImageBehaviour(image: string | RegExp, behaviour: TaskBehaviour): void {
    this.rules.unshift({ image, behaviour })
  }

  /**
   * What a container run with a command override does: the command is its arguments joined by
   * spaces (`npm run migrate`), matched exactly or by a RegExp, optionally only for an image.
   * Later rules win over earlier ones.
   */
  setCommandBehaviour(
    command: string | RegExp,
    behaviour: CommandBehaviour,
    image?: string | RegExp
  ): void {
    this.commandRules.unshift({ command, image, behaviour })
  }

  logs(taskArn: string, container: string): ContainerLogEvent[] | undefined {
    const entry = this.logged.get(`${taskArn}\n${container}`)
    const now = this.now()
    if (!entry || now < entry.startAt) return undefined
    return entry.events.filter(e => e.timestamp <= now)
  }

  private log(taskArn: string, container: string, startAt: number, events: ContainerLogEvent[]) {
    this.logged.set(`${taskArn}\n${container}`, { startAt, events })
    while (this.logged.size > MAX_LOGGED_CONTAINERS) {
      this.logged.delete(this.logged.keys().next().value as string)
    }
  }

  /** Lines at start + i × interval, or spread evenly over a finite run. */
  private static spread(
    lines: readonly string[],
    startAt: number,
    durationMs: number,
    intervalMs?: number
  ): ContainerLogEvent[] {
    const step =
      intervalMs ??
      (Number.isFinite(durationMs) && lines.length > 0 ? durationMs / lines.length : 0)
    return lines.map((message, i) => ({ timestamp: Math.floor(startAt + i * step), message }))
  }

  private startCommand(launch: TaskLaunch): boolean {
    const overridden = launch.containers.filter(c => c.command && c.command.length > 0)
    if (overridden.length === 0) return false
    let running = overridden[0]!
    let behaviour = this.options.defaultCommandBehaviour ?? { exitCode: 0, durationMs: 1000 }
    search: for (const container of overridden) {
      for (const rule of this.commandRules) {
        if (
          matches(rule.command, container.command!.join(' ')) &&
          (rule.image === undefined || matches(rule.image, container.image))
        ) {
          running = container
          behaviour = rule.behaviour
          break search
        }
      }
    }
    const t0 = this.now()
    const startAt = t0 + (behaviour.startDelayMs ?? 0)
    const durationMs = behaviour.durationMs ?? 1000
    for (const container of launch.containers) {
      this.log(
        launch.taskArn,
        container.name,
        startAt,
        container === running
          ? SimulatedTaskRuntime.spread(
              behaviour.logLines ?? [],
              startAt,
              durationMs,
              behaviour.lineIntervalMs
            )
          : []
      )
    }
    this.schedule(startAt, { taskArn: launch.taskArn, lastStatus: 'RUNNING' })
    if (Number.isFinite(durationMs)) {
      this.schedule(startAt + durationMs, {
        taskArn: launch.taskArn,
        lastStatus: 'STOPPED',
        stopCode: 'EssentialContainerExited',
        stoppedReason: ESSENTIAL_CONTAINER_EXITED,
        containers: launch.containers.map(c =>
          c === running
            ? {
                name: c.name,
                exitCode: behaviour.exitCode ?? 0,
                ...(behaviour.reason ? { reason: behaviour.reason } : {})
              }
            : { name: c.name, exitCode: 0 }
        )
      })
    }
    return true
  }

  private ruleFor(image: string): TaskBehaviour | undefined {
    const rule = this.rules.find(r =>
      typeof r.image === 'string'
        ? r.image === image
        : new RegExp(r.image.source, r.image.flags).test(image)
    )
    return rule?.behaviour
  }

  start(launch: TaskLaunch): void {
    this.containers.set(launch.taskArn, launch.containers)
    if (launch.alreadyRunning) {
      for (const c of launch.containers) this.log(launch.taskArn, c.name, this.now(), [])
      return
    }
    if (this.startCommand(launch)) return
    // The first container whose image has a rule decides the task's fate (essential ones first).
    const ordered = [...launch.containers].sort((a, b) => Number(b.essential) - Number(a.essential))
    let deciding = ordered[0]
    let behaviour = this.options.defaultBehaviour
    for (const container of ordered) {
      const rule = this.ruleFor(container.image)
      if (rule) {
        deciding = container
        behaviour = rule
        break
      }
    }
    const t0 = this.now()
    const names = launch.containers.map(c => c.name)
    const logAll = (startAt: number, lines: ContainerLogEvent[]) => {
      for (const c of launch.containers)
        this.log(launch.taskArn, c.name, startAt, c === deciding ? lines : [])
    }
    switch (behaviour.outcome) {
      case 'healthy': {
        const startAt = t0 + (behaviour.startDelayMs ?? 0)
        logAll(startAt, SimulatedTaskRuntime.spread(behaviour.logLines ?? [], startAt, 0, 0))
        this.schedule(startAt, {
          taskArn: launch.taskArn,
          lastStatus: 'RUNNING'
        })
        break
      }
      case 'crash': {
        const afterMs = behaviour.afterMs ?? 1000
        const startAt = t0 + Math.min(behaviour.runningAfterMs ?? 0, afterMs)
        logAll(
          startAt,
          SimulatedTaskRuntime.spread(behaviour.logLines ?? [], startAt, t0 + afterMs - startAt)
        )
        if (behaviour.runningAfterMs !== undefined && behaviour.runningAfterMs < afterMs) {
          this.schedule(t0 + behaviour.runningAfterMs, {
            taskArn: launch.taskArn,
            lastStatus: 'RUNNING'
          })
        }
        this.schedule(t0 + afterMs, {
          taskArn: launch.taskArn,
          lastStatus: 'STOPPED',
          stopCode: behaviour.stopCode ?? 'EssentialContainerExited',
          stoppedReason: behaviour.stoppedReason ?? ESSENTIAL_CONTAINER_EXITED,
          containers: names.map(name =>
            name === deciding?.name
              ? {
                  name,
                  exitCode: behaviour.exitCode ?? 1,
                  ...(behaviour.reason ? { reason: behaviour.reason } : {})
                }
              : { name, exitCode: 0 }
          )
        })
        break
      }
      case 'fail-to-start': {
        const reason =
          behaviour.reason ??
          `CannotPullContainerError: pull image manifest has been retried 5 time(s): ${deciding?.image ?? ''}: not found`
        this.schedule(t0 + (behaviour.afterMs ?? 1000), {
          taskArn: launch.taskArn,
          lastStatus: 'STOPPED',
          stopCode: 'TaskFailedToStart',
          stoppedReason: reason,
          containers: names.map(name => (name === deciding?.name ? { name, reason } : { name }))
        })
        break
      }
    }
  }

  stop(taskArn: string): void {
    this.timeline = this.timeline.filter(e => e.report.taskArn !== taskArn)
    // A stopped container logs nothing more.
    const now = this.now()
    for (const c of this.containers.get(taskArn) ?? []) {
      const entry = this.logged.get(`${taskArn}\n${c.name}`)
      if (entry) entry.events = entry.events.filter(e => e.timestamp <= now)
    }
    const names = (this.containers.get(taskArn) ?? []).map(c => c.name)
    this.schedule(this.now() + this.options.stopDelayMs, {
      taskArn,
      lastStatus: 'STOPPED',
      containers: names.map(name => ({ name, exitCode: 0 }))
    })
  }

  collect(now: number): TaskReport[] {
    const due = this.timeline.filter(e => e.at <= now).sort((a, b) => a.at - b.at || a.seq - b.seq)
    this.timeline = this.timeline.filter(e => e.at > now)
    for (const entry of due) {
      if (entry.report.lastStatus === 'STOPPED') this.containers.delete(entry.report.taskArn)
    }
    return due.map(e => e.report)
  }

  private schedule(at: number, report: TaskReport): void {
    this.timeline.push({ at, seq: this.seq++, report })
  }
}
