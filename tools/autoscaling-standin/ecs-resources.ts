/**
 * ECS services as Application Auto Scaling sees them, read and changed through the ECS
 * stand-in's own API (DescribeServices, UpdateService with a desired count), as the
 * service-linked role does in AWS: a target for a missing service is refused, and a desired
 * count outside new bounds is moved inside them.
 */
import { TARGET_PREFIX as ECS_TARGET_PREFIX } from '../ecs-standin/server.js'
import type { ScalableResources } from './model.js'

async function ecsCall(
  endpoint: string,
  operation: string,
  input: unknown
): Promise<Record<string, unknown>> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `${ECS_TARGET_PREFIX}${operation}`
    },
    body: JSON.stringify(input),
    signal: AbortSignal.timeout(10_000)
  })
  const body = (await response.json()) as Record<string, unknown>
  if (!response.ok)
    throw new Error(
      `ECS ${operation}: ${String(body.__type ?? response.status)}: ${String(body.message ?? '')}`
    )
  return body
}

/** `service/<cluster>/<service>` → its parts. */
function serviceOf(resourceId: string): { cluster: string; service: string } {
  const [, cluster = '', service = ''] = resourceId.split('/')
  return { cluster, service }
}

export function ecsServices(ecsEndpoint: string): ScalableResources {
  return {
    async capacity(resourceId) {
      const { cluster, service } = serviceOf(resourceId)
      let described
      try {
        described = await ecsCall(ecsEndpoint, 'DescribeServices', {
          cluster,
          services: [service]
        })
      } catch (error) {
        // A cluster that does not exist: so does the service.
        if (/ClusterNotFoundException/.test(String(error))) return undefined
        throw error
      }
      const services = (described.services ?? []) as Array<{
        status?: string
        desiredCount?: number
      }>
      const active = services.find(s => s.status === 'ACTIVE')
      return active?.desiredCount
    },
    async setCapacity(resourceId, _dimension, value) {
      const { cluster, service } = serviceOf(resourceId)
      await ecsCall(ecsEndpoint, 'UpdateService', { cluster, service, desiredCount: value })
    }
  }
}
