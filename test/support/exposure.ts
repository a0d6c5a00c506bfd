/**
 * How many production requests a build that fails its smoke gate answers before the previous
 * version is back, counted from the emulator's load balancer record, for the three ways
 * deploy.yml can gate a build:
 * - `rolling`: a ROLLING service, the gate after the rollout, then `rollback-to`;
 * - `bake-time`: a BLUE_GREEN service, `wait-until: traffic-shifted`, the gate during bake time
 *   on production traffic, then `rollback-to` (a traffic switch);
 * - `test-traffic`: a BLUE_GREEN service with a PAUSE hook at POST_TEST_TRAFFIC_SHIFT,
 *   `wait-until: test-traffic`, the gate on the test listener, then `continue-deployment` with
 *   `continue-action: rollback`. The goal is 0.
 * Customers are played by a prober asking the production listener every 50 ms throughout.
 */
import { runBundle, type BundleOptions, type BundleRun } from './bundle.js'
import { probe, type ServiceTarget } from './emulator.js'

export type GateMode = 'rolling' | 'bake-time' | 'test-traffic'

export const GATE_MODES: Record<GateMode, string> = {
  rolling: 'rolling, gated after the rollout',
  'bake-time': 'blue/green, gated during bake time',
  'test-traffic': 'blue/green, gated on test traffic'
}

/** A BLUE_GREEN service that pauses once test traffic is on the new revision. */
export const PAUSED_BLUE_GREEN = {
  strategy: 'BLUE_GREEN' as const,
  bakeTimeInMinutes: 1,
  minuteMs: 20_000,
  stageMs: 300,
  lifecycleHooks: [
    {
      targetType: 'PAUSE' as const,
      lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT' as const],
      timeoutConfiguration: { timeoutInMinutes: 30, action: 'ROLLBACK' as const }
    }
  ]
}

export interface Exposure {
  mode: GateMode
  /** Production requests the failing build answered, from the deploy to the previous version back. */
  badAnswers: number
  /** Production requests in that time, all revisions. */
  productionRequests: number
  /** The steps, in order: the deploy, the gate, and the rollback (or the hook's answer). */
  deploy: BundleRun
  gate: BundleRun
  undo: BundleRun
  /** The failing build's revision. */
  badArn: string
}

/** Deploys `failing` to `target` the `mode` way, fails its gate, undoes it, and counts. */
export async function measureExposure(
  target: ServiceTarget,
  mode: GateMode,
  failing: { image: string; version: string },
  options: { onLine?: BundleOptions['onLine']; gateTimeoutSeconds?: number } = {}
): Promise<Exposure> {
  const since = Date.now()
  const customers = probe(target.healthUrl, 50)
  let deploy: BundleRun
  let gate: BundleRun
  let undo: BundleRun
  try {
    const gateSeconds = options.gateTimeoutSeconds ?? 4
    if (mode === 'test-traffic') {
      deploy = await target.deploy(
        { image: failing.image, 'wait-until': 'test-traffic' },
        options.onLine
      )
      gate = await testTrafficGate(target, failing.version, gateSeconds, options.onLine)
      undo = await target.deploy(
        {
          'continue-deployment': deploy.outputs['service-deployment-arn'] ?? '',
          'continue-action': gate.exitCode === 0 ? 'continue' : 'rollback'
        },
        options.onLine
      )
    } else {
      deploy = await target.deploy(
        { image: failing.image, 'wait-until': 'traffic-shifted' },
        options.onLine
      )
      gate = await target.gate(failing.version, options.onLine, gateSeconds)
      undo = await target.deploy(
        { 'rollback-to': deploy.outputs['previous-task-definition-arn'] ?? '' },
        options.onLine
      )
    }
    // Requests already on their way when the undo ended land in the record too.
    await new Promise(resolve => setTimeout(resolve, 300))
  } finally {
    await customers.stop()
  }
  const badArn = deploy.outputs['task-definition-arn'] ?? ''
  const production = target.balancer.requests.filter(
    r => r.at >= since && r.listener === 'production'
  )
  return {
    mode,
    badAnswers: production.filter(r => r.taskDefinitionArn === badArn && r.status > 0).length,
    productionRequests: production.length,
    deploy,
    gate,
    undo,
    badArn
  }
}

/** smoke-health on the test listener's /health, as deploy.yml's test-url gate runs it. */
function testTrafficGate(
  target: ServiceTarget,
  expectedVersion: string,
  timeoutSeconds: number,
  onLine?: BundleOptions['onLine']
): Promise<BundleRun> {
  return runBundle('smoke-health', {
    inputs: {
      url: `${target.balancer.testUrl}/health`,
      'expected-version': expectedVersion,
      'interval-seconds': '0.5',
      'required-successes': '3',
      'timeout-seconds': String(timeoutSeconds),
      'request-timeout-seconds': '5'
    },
    env: { ...target.emulator.env, PATH: process.env.PATH ?? '' },
    onLine,
    timeoutMs: (timeoutSeconds + 30) * 1000
  })
}
