/**
 * §4 of the test-traffic gate: how many production requests a build that fails its smoke gate
 * answers before the previous version is back, from the emulator load balancer's record, for a
 * rolling service, a blue/green one gated during bake time, and a blue/green one gated on test
 * traffic (goal: 0). Runs on the pipeline benchEndToEnd started (test/support/exposure.ts).
 */
import { BAKING_BLUE_GREEN, buildVersion, type Pipeline } from '../../test/support/emulator.js'
import {
  GATE_MODES,
  measureExposure,
  PAUSED_BLUE_GREEN,
  type Exposure,
  type GateMode
} from '../../test/support/exposure.js'

interface Row {
  metric: string
  value: string
  note?: string
}

/** The three figures, measured one after the other on services running `goodImage`. */
export async function measureAllExposures(
  pipeline: Pipeline,
  goodImage: string,
  onStep: (mode: GateMode) => void = () => {}
): Promise<Exposure[]> {
  const failing = await buildVersion(pipeline, 'unhealthy')
  const baking = await pipeline.addService({
    name: `${pipeline.service}-baking`,
    image: goodImage,
    deployment: BAKING_BLUE_GREEN
  })
  const gated = await pipeline.addService({
    name: `${pipeline.service}-gated`,
    image: goodImage,
    deployment: PAUSED_BLUE_GREEN
  })
  const measured: Exposure[] = []
  for (const [mode, target] of [
    ['rolling', pipeline],
    ['bake-time', baking],
    ['test-traffic', gated]
  ] as const) {
    onStep(mode)
    const run = await measureExposure(target, mode, failing)
    if (
      run.gate.exitCode === 0 ||
      !['succeeded', 'rolled-back'].includes(run.undo.outputs.status ?? '')
    )
      throw new Error(
        `${mode}: the failing build was not gated and undone:\n${run.deploy.stdout}\n${run.gate.stdout}\n${run.undo.stdout}`
      )
    measured.push(run)
  }
  return measured
}

export function exposureRows(measured: Exposure[]): Row[] {
  return measured.map(run => ({
    metric: `e2e: production requests a failing build answered, ${GATE_MODES[run.mode]}`,
    value: String(run.badAnswers),
    note: `of ${run.productionRequests} production requests (a client every 50 ms, and the gate where it asks production) from the deploy until the previous version was back${run.mode === 'test-traffic' ? '; goal: 0' : ''}`
  }))
}

export async function benchExposure(pipeline: Pipeline, goodImage: string): Promise<Row[]> {
  return exposureRows(await measureAllExposures(pipeline, goodImage))
}
