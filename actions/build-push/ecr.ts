import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  type ECRClient,
  GetAuthorizationTokenCommand
} from '@aws-sdk/client-ecr'
import { ActionError, awsFailure } from '../shared/errors.js'

/** A registry login as ECR hands it out. */
export interface RegistryLogin {
  username: string
  password: string
  /** The base64 `user:password` token itself; masked like the password. */
  token: string
  proxyEndpoint: string
  expiresAt?: Date
}

export async function registryLogin(ecr: ECRClient): Promise<RegistryLogin> {
  let data
  try {
    data = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData?.[0]
  } catch (error) {
    throw awsFailure('ECR GetAuthorizationToken', error)
  }
  const token = data?.authorizationToken ?? ''
  const decoded = Buffer.from(token, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (!data?.proxyEndpoint || colon <= 0) {
    throw new ActionError(
      'ECR GetAuthorizationToken returned no usable token or proxy endpoint; check the ECR endpoint and credentials.'
    )
  }
  return {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
    token,
    proxyEndpoint: data.proxyEndpoint,
    expiresAt: data.expiresAt
  }
}

export type RepositoryState = 'exists' | 'created'

/** Fails naming the repository when it is missing, unless asked to create it (scan on push). */
export async function ensureRepository(
  ecr: ECRClient,
  repository: string,
  create: boolean,
  registry: string
): Promise<RepositoryState> {
  try {
    await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [repository] }))
    return 'exists'
  } catch (error) {
    if (!isNamed(error, 'RepositoryNotFoundException'))
      throw awsFailure(`ECR DescribeRepositories for '${repository}'`, error)
  }
  if (!create) {
    throw new ActionError(
      `ECR repository '${repository}' does not exist in ${registry}. Create it with the service's infrastructure, or set create-repository: true to create it here (with scan on push).`
    )
  }
  try {
    await ecr.send(
      new CreateRepositoryCommand({
        repositoryName: repository,
        imageScanningConfiguration: { scanOnPush: true }
      })
    )
  } catch (error) {
    // Another job created it between our two calls: that is what we wanted.
    if (isNamed(error, 'RepositoryAlreadyExistsException')) return 'exists'
    throw awsFailure(`ECR CreateRepository '${repository}'`, error)
  }
  return 'created'
}

/** The manifest digest of `repository:tag` in ECR, or undefined when there is no such tag. */
export async function imageDigest(
  ecr: ECRClient,
  repository: string,
  tag: string
): Promise<string | undefined> {
  try {
    const found = await ecr.send(
      new DescribeImagesCommand({ repositoryName: repository, imageIds: [{ imageTag: tag }] })
    )
    return found.imageDetails?.[0]?.imageDigest
  } catch (error) {
    if (isNamed(error, 'ImageNotFoundException')) return undefined
    throw awsFailure(`ECR DescribeImages for '${repository}:${tag}'`, error)
  }
}

/** Manifest types BatchGetImage may answer with (its documented acceptedMediaTypes). */
const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json'
]

/**
 * The manifest of `repository@digest` (BatchGetImage), or undefined when ECR gives none: an
 * index, or an image gone since it was described (ECR lists those as failures, not errors).
 */
export async function imageManifest(
  ecr: ECRClient,
  repository: string,
  digest: string
): Promise<string | undefined> {
  try {
    const found = await ecr.send(
      new BatchGetImageCommand({
        repositoryName: repository,
        imageIds: [{ imageDigest: digest }],
        acceptedMediaTypes: MANIFEST_TYPES
      })
    )
    return found.images?.find(image => image.imageId?.imageDigest === digest)?.imageManifest
  } catch (error) {
    throw awsFailure(`ECR BatchGetImage for '${repository}@${digest}'`, error)
  }
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name
}
