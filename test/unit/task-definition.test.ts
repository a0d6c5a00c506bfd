import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ContainerDefinition, Tag } from '@aws-sdk/client-ecs'
import {
  chooseContainer,
  describeTaskDefinition,
  jsonErrorPosition,
  READ_ONLY_TASK_DEFINITION_FIELDS,
  readTemplate,
  renderTaskDefinition,
  shortRevision,
  TRACE_TAGS,
  type RenderRequest
} from '../../actions/ecs-deploy/task-definition.js'
import { InputError } from '../../actions/shared/errors.js'
import { taskDefinition } from '../support/ecs-fixtures.js'

const trace = {
  commit: '0123abcd',
  run: 'https://github.com/noblepay/api/actions/runs/42',
  image: 'registry/api@sha256:1111'
}

function request(overrides: Partial<RenderRequest> = {}): RenderRequest {
  return {
    base: taskDefinition(3),
    baseTags: [],
    containerName: 'api',
    image: 'registry/api:v4',
    environment: [],
    trace,
    ...overrides
  }
}

const container = (name: string, extra: Partial<ContainerDefinition> = {}) => ({
  name,
  image: `registry/${name}:1`,
  ...extra
})

/** The InputError a call throws, to assert on its input, value and message. */
function inputError(call: () => unknown): InputError {
  try {
    call()
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('no InputError was thrown')
}

describe('renderTaskDefinition', () => {
  it('drops every field DescribeTaskDefinition returns that RegisterTaskDefinition refuses', () => {
    const base = taskDefinition(3, {
      deregisteredAt: new Date('2026-11-02T00:00:00Z'),
      deleteRequestedAt: new Date('2026-11-03T00:00:00Z')
    })
    for (const field of READ_ONLY_TASK_DEFINITION_FIELDS) expect(base).toHaveProperty(field)
    const rendered = renderTaskDefinition(request({ base })) as unknown as Record<string, unknown>
    for (const field of READ_ONLY_TASK_DEFINITION_FIELDS) expect(rendered).not.toHaveProperty(field)
    expect(rendered).toMatchObject({
      family: 'api',
      cpu: '256',
      memory: '512',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE']
    })
  })

  it('renders with several containers: the image and environment go into the named container only', () => {
    const base = taskDefinition(3, {
      containerDefinitions: [
        container('proxy', { environment: [{ name: 'MODE', value: 'edge' }] }),
        container('api', { environment: [{ name: 'MODE', value: 'app' }] }),
        container('log-router')
      ]
    })
    const rendered = renderTaskDefinition(
      request({
        base,
        containerName: 'api',
        environment: [
          ['MODE', 'canary'],
          ['FEATURE', 'on']
        ]
      })
    )
    expect(rendered.containerDefinitions).toEqual([
      container('proxy', { environment: [{ name: 'MODE', value: 'edge' }] }),
      container('api', {
        image: 'registry/api:v4',
        environment: [
          { name: 'MODE', value: 'canary' },
          { name: 'FEATURE', value: 'on' }
        ]
      }),
      container('log-router')
    ])
  })

  it('replaces a variable in its place and appends new ones, leaving the others', () => {
    const rendered = renderTaskDefinition(
      request({
        environment: [
          ['NODE_ENV', 'staging'],
          ['APP_VERSION', '4']
        ]
      })
    )
    expect(rendered.containerDefinitions![0]!.environment).toEqual([
      { name: 'NODE_ENV', value: 'staging' },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'APP_VERSION', value: '4' }
    ])
  })

  it('gives a container without an environment the new variables', () => {
    const base = taskDefinition(3, { containerDefinitions: [container('api')] })
    const rendered = renderTaskDefinition(request({ base, environment: [['A', '1']] }))
    expect(rendered.containerDefinitions![0]).toEqual(
      container('api', { image: 'registry/api:v4', environment: [{ name: 'A', value: '1' }] })
    )
  })

  it('leaves the base task definition as it was', () => {
    const base = taskDefinition(3)
    const before = structuredClone(base)
    renderTaskDefinition(request({ base, environment: [['NODE_ENV', 'staging']] }))
    expect(base).toEqual(before)
  })

  it('updates the only container when no container-name is given', () => {
    const rendered = renderTaskDefinition(request({ containerName: '' }))
    expect(rendered.containerDefinitions![0]!.image).toBe('registry/api:v4')
  })

  it('refuses a base without container definitions, naming container-name', () => {
    const base = taskDefinition(3, { containerDefinitions: undefined })
    expect(inputError(() => renderTaskDefinition(request({ base }))).input).toBe('container-name')
  })

  it('tags the revision with the commit, the run and the image', () => {
    expect(renderTaskDefinition(request()).tags).toEqual([
      { key: TRACE_TAGS.commit, value: '0123abcd' },
      { key: TRACE_TAGS.run, value: 'https://github.com/noblepay/api/actions/runs/42' },
      { key: TRACE_TAGS.image, value: 'registry/api@sha256:1111' }
    ])
    expect(TRACE_TAGS).toEqual({
      commit: 'noblepay:commit',
      run: 'noblepay:run',
      image: 'noblepay:image'
    })
  })

  it('leaves out a trace tag whose value is unknown', () => {
    const tags = renderTaskDefinition(request({ trace: { ...trace, commit: '', run: '' } })).tags
    expect(tags).toEqual([{ key: TRACE_TAGS.image, value: 'registry/api@sha256:1111' }])
  })

  it('replaces characters ECS refuses in a tag value', () => {
    const tags = renderTaskDefinition(
      request({ trace: { ...trace, image: 'reg/api:v1 é_.:/=+-@ "x"#!?' } })
    ).tags!
    expect(tags.find(t => t.key === TRACE_TAGS.image)!.value).toBe('reg/api:v1 é_.:/=+-@ _x____')
  })

  it('cuts tag values at 256 characters, keeping the end', () => {
    const exact = 'a'.repeat(256)
    const long = `${'b'.repeat(100)}${'c'.repeat(200)}`
    const tags = renderTaskDefinition(
      request({ trace: { ...trace, commit: exact, run: long } })
    ).tags!
    expect(tags.find(t => t.key === TRACE_TAGS.commit)!.value).toBe(exact)
    const run = tags.find(t => t.key === TRACE_TAGS.run)!.value!
    expect(run).toHaveLength(256)
    expect(run).toBe(`…${'b'.repeat(55)}${'c'.repeat(200)}`)
  })

  it('keeps the base tags but drops aws: tags, which ECS reserves', () => {
    const baseTags: Tag[] = [
      { key: 'team', value: 'payments' },
      { key: 'aws:cloudformation:stack-name', value: 'api' },
      { key: 'cost-center', value: 'aws:billing' }
    ]
    expect(renderTaskDefinition(request({ baseTags })).tags).toEqual([
      { key: 'team', value: 'payments' },
      { key: 'cost-center', value: 'aws:billing' },
      { key: TRACE_TAGS.commit, value: '0123abcd' },
      { key: TRACE_TAGS.run, value: 'https://github.com/noblepay/api/actions/runs/42' },
      { key: TRACE_TAGS.image, value: 'registry/api@sha256:1111' }
    ])
  })

  it('leaves a base tag without a key for ECS to judge', () => {
    const tags = renderTaskDefinition(request({ baseTags: [{ value: 'orphan' }] })).tags
    expect(tags?.[0]).toEqual({ value: 'orphan' })
  })

  it('replaces base tags with our keys by this run values, once each', () => {
    const baseTags: Tag[] = [
      { key: TRACE_TAGS.commit, value: 'old-commit' },
      { key: 'team', value: 'payments' },
      { key: TRACE_TAGS.image, value: 'registry/api:v3' }
    ]
    expect(renderTaskDefinition(request({ baseTags })).tags).toEqual([
      { key: 'team', value: 'payments' },
      { key: TRACE_TAGS.commit, value: '0123abcd' },
      { key: TRACE_TAGS.run, value: 'https://github.com/noblepay/api/actions/runs/42' },
      { key: TRACE_TAGS.image, value: 'registry/api@sha256:1111' }
    ])
  })
})

describe('chooseContainer', () => {
  const twoContainers = taskDefinition(3, {
    containerDefinitions: [container('api'), container('worker')]
  })

  it('takes the named container', () => {
    expect(chooseContainer(twoContainers, 'worker')).toBe('worker')
  })

  it('takes the only container when none is named', () => {
    expect(chooseContainer(taskDefinition(3), '')).toBe('api')
  })

  it('refuses a name the task definition does not have, listing the names it has', () => {
    const error = inputError(() => chooseContainer(twoContainers, 'web'))
    expect(error).toMatchObject({ input: 'container-name', value: 'web' })
    expect(error.message).toBe(
      "Input 'container-name' is 'web': task definition api:3 has no such container; its containers are: api, worker"
    )
  })

  it('refuses to guess among several containers', () => {
    const error = inputError(() => chooseContainer(twoContainers, ''))
    expect(error.message).toBe(
      "Input 'container-name' is empty: task definition api:3 has 2 containers (api, worker); name the one to update"
    )
  })

  it('refuses a task definition without containers', () => {
    for (const containerDefinitions of [[], undefined]) {
      const empty = taskDefinition(3, { containerDefinitions })
      expect(inputError(() => chooseContainer(empty, '')).message).toBe(
        "Input 'container-name' is empty: task definition api:3 has 0 containers (); name the one to update"
      )
    }
  })

  it('does not take an unnamed container for the one asked for', () => {
    const unnamed = taskDefinition(3, { containerDefinitions: [{ image: 'x' }] })
    expect(chooseContainer(unnamed, '')).toBe('')
    expect(inputError(() => chooseContainer(unnamed, 'api')).message).toContain(
      'its containers are: '
    )
  })
})

describe('names of task definitions', () => {
  it('describes a task definition by family and revision, or family alone', () => {
    expect(describeTaskDefinition(taskDefinition(3))).toBe('task definition api:3')
    expect(describeTaskDefinition({ family: 'api' })).toBe('task definition api')
    expect(describeTaskDefinition({ revision: 3 })).toBe('task definition (no family)')
    expect(describeTaskDefinition({})).toBe('task definition (no family)')
  })

  it('shortens an ARN to family:revision', () => {
    expect(shortRevision('arn:aws:ecs:eu-west-1:123456789012:task-definition/api:3')).toBe('api:3')
    expect(shortRevision('api:3')).toBe('api:3')
    expect(shortRevision('family/arn:x/api:3')).toBe('family/arn:x/api:3')
    expect(shortRevision(undefined)).toBe('(none)')
    expect(shortRevision('')).toBe('(none)')
  })
})

describe('readTemplate', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'template-'))
  })

  async function template(name: string, content: unknown): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content))
    return path
  }

  async function rejection(path: string): Promise<InputError> {
    const error: unknown = await readTemplate(path).then(
      () => undefined,
      (thrown: unknown) => thrown
    )
    if (!(error instanceof InputError)) throw new Error(`expected an InputError, got ${error}`)
    expect(error).toMatchObject({ input: 'task-definition', value: path })
    return error
  }

  const registerInput = {
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'registry/api:1' }]
  }

  it('reads a RegisterTaskDefinition input, taking its tags out of the task definition', async () => {
    const path = await template('register.json', {
      ...registerInput,
      tags: [{ key: 'team', value: 'payments' }]
    })
    expect(await readTemplate(path)).toEqual({
      taskDefinition: registerInput,
      tags: [{ key: 'team', value: 'payments' }]
    })
  })

  it('reads the output of describe-task-definition, with its tags beside it', async () => {
    const path = await template('describe.json', {
      taskDefinition: { ...registerInput, revision: 7 },
      tags: [{ key: 'owner', value: 'x' }]
    })
    expect(await readTemplate(path)).toEqual({
      taskDefinition: { ...registerInput, revision: 7 },
      tags: [{ key: 'owner', value: 'x' }]
    })
  })

  it('reads tags inside a wrapped task definition', async () => {
    const path = await template('wrapped-tags.json', {
      taskDefinition: { ...registerInput, tags: [{ key: 'team', value: 'payments' }] }
    })
    expect(await readTemplate(path)).toEqual({
      taskDefinition: registerInput,
      tags: [{ key: 'team', value: 'payments' }]
    })
  })

  it('reads a template without tags as no tags', async () => {
    const path = await template('untagged.json', { ...registerInput, tags: 'none' })
    expect(await readTemplate(path)).toEqual({ taskDefinition: registerInput, tags: [] })
  })

  it('rejects a template without family', async () => {
    for (const family of [undefined, '', 7]) {
      const path = await template('no-family.json', { ...registerInput, family })
      expect((await rejection(path)).message).toContain(
        'it has no "family"; add the task definition family name'
      )
    }
  })

  it('rejects a template without containerDefinitions', async () => {
    for (const containerDefinitions of [undefined, [], { name: 'api' }]) {
      const path = await template('no-containers.json', { family: 'api', containerDefinitions })
      expect((await rejection(path)).message).toContain(
        'it has no "containerDefinitions"; add at least one container'
      )
    }
  })

  it('rejects JSON that is not an object', async () => {
    for (const content of [[registerInput], '"api"', 'null']) {
      const path = await template('not-an-object.json', content)
      expect((await rejection(path)).message).toContain(
        'it must hold a JSON object describing a task definition'
      )
    }
  })

  it('rejects a file that is not JSON, saying where', async () => {
    const path = await template('broken.json', '{\n  "family": "api",\n}')
    expect((await rejection(path)).message).toContain('it is not valid JSON: ')
    expect((await rejection(path)).message).toContain('at line 3, column 1')
  })

  it('rejects a path that cannot be read, with the reason', async () => {
    const path = join(dir, 'missing.json')
    expect((await rejection(path)).message).toBe(
      `Input 'task-definition' is '${path}': the file cannot be read (ENOENT); give a path relative to the workspace`
    )
  })
})

const positionOf = (text: string) => {
  try {
    JSON.parse(text)
  } catch (error) {
    return jsonErrorPosition(text, error as Error)
  }
  throw new Error('parsed')
}

describe('jsonErrorPosition', () => {
  it.each([
    ['{\n  "a": [,]\n}', "unexpected ',' at line 2, column 9"],
    ['{\n  "a": 1,\n}', 'Expected double-quoted property name at line 3, column 1'],
    ['{"a": 1} x', 'Unexpected non-whitespace character after JSON at line 1, column 10'],
    ['{\n  "a": "b\n', 'Bad control character in string literal at line 2, column 10'],
    ['{"a": tru }', "unexpected ' ' at line 1, column 10"],
    [
      '{"a":\n\n\n\n\n\n\n\n\n\n\n1 2}',
      "Expected ',' or '}' after property value at line 12, column 3"
    ],
    ['', 'Unexpected end of JSON input at line 1, column 1']
  ])('%j → %s', (text, expected) => {
    expect(positionOf(text)).toBe(expected)
  })
})
