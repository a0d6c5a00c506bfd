/**
 * Reading a service back after UpdateService's reply was lost: whether the update happened,
 * did not, or cannot be told because someone else changed the service.
 */
import { readBackUpdate, type UpdateRequest } from '../../actions/ecs-deploy/ecs.js'
import { arn, deployment, service } from '../support/ecs-fixtures.js'

const request = (over: Partial<UpdateRequest> = {}): UpdateRequest => ({
  cluster: 'payments',
  service: 'api',
  taskDefinition: arn('api', 42),
  forceNewDeployment: false,
  prior: { deploymentIds: ['ecs-svc/41'], taskDefinition: arn('api', 41) },
  ...over
})
const before = () => deployment('ecs-svc/41', 41)

describe('readBackUpdate, for an update that starts a deployment', () => {
  it('a new revision without force-new-deployment starts one: a fresh deployment on it is ours', () => {
    const ours = deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS' })
    expect(readBackUpdate(service([ours, { ...before(), status: 'ACTIVE' }]), request())).toEqual({
      kind: 'applied',
      deployment: ours
    })
  })

  it('force-new-deployment of the running revision starts one: a fresh deployment on it is ours', () => {
    const again = request({ taskDefinition: arn('api', 41), forceNewDeployment: true })
    const ours = deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' })
    expect(readBackUpdate(service([ours, { ...before(), status: 'ACTIVE' }]), again)).toEqual({
      kind: 'applied',
      deployment: ours
    })
  })

  it('a deployment on our revision that was there before is not ours: the update did not happen', () => {
    const again = request({ taskDefinition: arn('api', 41), forceNewDeployment: true })
    expect(readBackUpdate(service([before()]), again)).toEqual({ kind: 'not-applied' })
  })

  it('names the newest fresh deployment when only others are there, whatever the desired count', () => {
    const theirs = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    const other = deployment('ecs-svc/51', 51, { status: 'ACTIVE' })
    expect(
      readBackUpdate(service([theirs, other, before()], { desiredCount: 3 }), request())
    ).toEqual({ kind: 'changed-otherwise', by: theirs })
  })
})

describe('readBackUpdate, for an update that starts no deployment', () => {
  const sameRevision = (over: Partial<UpdateRequest> = {}) =>
    request({ taskDefinition: arn('api', 41), ...over })

  it('with no desired count asked for, the service on our revision and no new deployment means it happened', () => {
    expect(readBackUpdate(service([before()], { desiredCount: 7 }), sameRevision())).toEqual({
      kind: 'applied'
    })
  })

  it('the desired count we asked for on another revision than ours means it did not happen', () => {
    const onOther = service([before()], { desiredCount: 4, taskDefinition: arn('api', 40) })
    expect(readBackUpdate(onOther, sameRevision({ desiredCount: 4 }))).toEqual({
      kind: 'not-applied'
    })
  })

  it('a fresh deployment beside the settings we asked for is a change by someone else', () => {
    const theirs = deployment('ecs-svc/50', 41, { rolloutState: 'IN_PROGRESS' })
    const settled = service([theirs, { ...before(), status: 'ACTIVE' }], {
      desiredCount: 4,
      taskDefinition: arn('api', 41)
    })
    expect(readBackUpdate(settled, sameRevision({ desiredCount: 4 }))).toEqual({
      kind: 'changed-otherwise',
      by: theirs
    })
  })

  it('a fresh deployment without the desired count we asked for is a change by someone else too', () => {
    const theirs = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    expect(
      readBackUpdate(
        service([theirs, before()], { desiredCount: 2 }),
        sameRevision({ desiredCount: 4 })
      )
    ).toEqual({ kind: 'changed-otherwise', by: theirs })
  })

  it('a service read back without deployments shows the update did not happen', () => {
    const bare = service([])
    delete bare.deployments
    expect(readBackUpdate(bare, request())).toEqual({ kind: 'not-applied' })
  })

  it('a deployment without an id was there before when the service had one without an id', () => {
    const unnamed = { ...deployment('', 41), id: undefined }
    const known = sameRevision({ prior: { deploymentIds: [''], taskDefinition: arn('api', 41) } })
    expect(readBackUpdate(service([unnamed]), known)).toEqual({ kind: 'applied' })
  })

  it('a deployment ECS lists without an id counts as new', () => {
    const unnamed = { ...deployment('', 41), id: undefined }
    expect(readBackUpdate(service([unnamed, before()]), sameRevision({ desiredCount: 2 }))).toEqual(
      { kind: 'changed-otherwise', by: unnamed }
    )
  })
})
