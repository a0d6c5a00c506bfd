import { AwsCaller } from '../../actions/shared/aws-call.js'
import { realClock } from '../../actions/shared/runner.js'
import { applyScaling, scalingGateway } from '../../actions/ecs-deploy/scaling.js'
import { ENDPOINT_VARIABLE } from '../../tools/autoscaling-standin/server.js'
import { startEmulator, type Emulator } from '../../tools/emulator.js'
import { ensureDocker } from '../support/emulator.js'
import { rejection } from '../support/runner.js'

let emulator: Emulator

beforeAll(async () => {
  await ensureDocker()
  emulator = await startEmulator({ handleSignals: false })
})

afterAll(async () => {
  await emulator?.close()
})

const declared = {
  minCapacity: 3,
  maxCapacity: 20,
  targets: { cpu: 70 },
  scaleOutCooldown: 300,
  scaleInCooldown: 900
}

/** The gateway as the action builds it, from nothing but the emulator's variables. */
function gateway() {
  const caller = new AwsCaller({
    clock: realClock,
    deadline: Date.now() + 20_000,
    attemptTimeoutMs: 5_000,
    backoffMs: 50,
    maxBackoffMs: 500
  })
  return scalingGateway('', caller, emulator.env)
}

it('puts the Application Auto Scaling endpoint in emulator.env', () => {
  expect(emulator.env[ENDPOINT_VARIABLE]).toBe(emulator.autoscaling.endpoint)
})

it("scales the ECS stand-in's services: a target for a missing one is refused as AWS does", async () => {
  const saved = { ...process.env }
  // The SDK reads endpoints and credentials from the process environment.
  Object.assign(process.env, emulator.env)
  try {
    const error = await rejection(
      applyScaling(declared, { cluster: 'local', service: 'missing' }, { gateway: gateway() })
    )
    expect(error.message).toContain("ECS service doesn't exist: service/local/missing")
  } finally {
    for (const key of Object.keys(emulator.env))
      if (saved[key] === undefined) delete process.env[key]
      else process.env[key] = saved[key]
  }
  expect(emulator.autoscaling.calls.map(c => c.operation)).toEqual([
    'DescribeScalableTargets',
    'RegisterScalableTarget'
  ])
  expect(emulator.ecs.calls.map(c => c.operation)).toContain('DescribeServices')
})
