/**
 * Real health checks for the emulator: each registered target's health check path is asked over
 * HTTP (GET, a 200 passes, as the default matcher says: SDK Matcher HttpCode "200"), each answer
 * kept until the next, and the ELB model's checks read the latest one. Which address answers for
 * a target is the caller's to say (the emulator maps a task's IP to its container's port).
 */
import { request } from 'node:http'
import type { ElbModel, TargetGroupRecord } from './model.js'

export type TargetAddress = (
  group: TargetGroupRecord,
  targetId: string
) => { host: string; port: number } | undefined

export class HttpHealthProbe {
  private readonly answers = new Map<string, boolean>()
  private timer?: NodeJS.Timeout

  constructor(
    private readonly model: ElbModel,
    private readonly address: TargetAddress,
    /** How often every target is asked; default 100 ms. */
    private readonly everyMs = 100
  ) {
    model.addProbe((group, id) => this.answers.get(`${group.arn} ${id}`) ?? false)
  }

  start(): void {
    this.timer = setInterval(() => void this.askAll(), this.everyMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private async askAll(): Promise<void> {
    const asks: Array<Promise<void>> = []
    for (const group of this.model.targetGroups.values())
      for (const target of group.targets.values()) {
        if (target.state === 'draining') continue
        const at = this.address(group, target.id)
        const key = `${group.arn} ${target.id}`
        if (!at) this.answers.set(key, false)
        else
          asks.push(
            get(
              at.host,
              at.port,
              group.healthCheckPath,
              group.settings.healthCheckTimeoutSeconds
            ).then(ok => void this.answers.set(key, ok))
          )
      }
    await Promise.all(asks)
  }
}

/** One health check: true on HTTP 200 within the timeout (AWS seconds, at most 2 s here). */
function get(host: string, port: number, path: string, timeoutSeconds: number): Promise<boolean> {
  return new Promise(resolve => {
    const req = request(
      { host, port, path, method: 'GET', timeout: Math.min(2000, timeoutSeconds * 1000) },
      res => {
        res.resume()
        resolve(res.statusCode === 200)
      }
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}
