import type { AnnotationPlace, Clock, Runner } from '../../actions/shared/runner.js'

/** A Runner that records what a user would see in the log, outputs and summary. */
export class RecordingRunner implements Runner {
  readonly lines: string[] = []
  readonly warnings: string[] = []
  readonly errors: string[] = []
  readonly annotations: Array<AnnotationPlace & { message: string }> = []
  readonly outputs: Record<string, string> = {}
  readonly secrets: string[] = []
  readonly state: Record<string, string> = {}
  summaryText = ''
  /** Each error's position in `lines`, to tell when it came relative to progress lines. */
  readonly errorAt: number[] = []

  info(line: string): void {
    this.lines.push(line)
  }
  warning(message: string): void {
    this.warnings.push(message)
    this.lines.push(`::warning::${message}`)
  }
  error(message: string): void {
    this.errors.push(message)
    this.errorAt.push(this.lines.length)
    this.lines.push(`::error::${message}`)
  }
  annotate(message: string, place: AnnotationPlace): void {
    this.annotations.push({ message, ...place })
    this.lines.push(`::error file=${place.file},line=${place.line ?? ''}::${message}`)
  }
  async group<T>(title: string, body: () => Promise<T>): Promise<T> {
    this.lines.push(`::group::${title}`)
    try {
      return await body()
    } finally {
      this.lines.push('::endgroup::')
    }
  }
  setOutput(name: string, value: string): void {
    this.outputs[name] = value
  }
  setSecret(value: string): void {
    this.secrets.push(value)
  }
  async summary(markdown: string): Promise<void> {
    this.summaryText += markdown
  }
  saveState(name: string, value: string): void {
    this.state[name] = value
  }
  getState(name: string): string {
    return this.state[name] ?? ''
  }
  get log(): string {
    return this.lines.join('\n')
  }
}

/** A clock whose sleep advances time instantly; `onSleep` lets a test change the world per poll. */
export class FakeClock implements Clock {
  sleeps = 0
  constructor(
    public time = Date.parse('2026-11-28T12:00:00Z'),
    private readonly onSleep: (clock: FakeClock) => void = () => {}
  ) {}
  now(): number {
    return this.time
  }
  async sleep(ms: number): Promise<void> {
    this.time += ms
    this.sleeps++
    this.onSleep(this)
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the action to fail')
}
