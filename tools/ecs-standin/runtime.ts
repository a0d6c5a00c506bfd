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
  close?(): Promise<void>
}

/** What a task whose image matches does, in simulated time. */
export type TaskBehaviour =
  | {
      outcome: 'healthy'
      /** From launch to RUNNING. */
      startDelayMs?: number
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
    }
  | {
      outcome: 'fail-to-start'
      /** From launch to STOPPED, never RUNNING. */
      afterMs?: number
      /** Both the task's stoppedReason and the container's reason. */
      reason?: string
    }

export const ESSENTIAL_CONTAINER_EXITED = 'Essential container in task exited'

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
  now?: () => number
}

/** Plays each task's behaviour on a timeline; tasks are chosen by container image. */
export class SimulatedTaskRuntime implements TaskRuntime {
  private readonly rules: BehaviourRule[] = []
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
    if (launch.alreadyRunning) return
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
    switch (behaviour.outcome) {
      case 'healthy':
        this.schedule(t0 + (behaviour.startDelayMs ?? 0), {
          taskArn: launch.taskArn,
          lastStatus: 'RUNNING'
        })
        break
      case 'crash': {
        const afterMs = behaviour.afterMs ?? 1000
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
