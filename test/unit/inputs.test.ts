import { Inputs } from '../../actions/shared/inputs.js'
import { InputError } from '../../actions/shared/errors.js'

const inputs = (values: Record<string, string>) => new Inputs(name => values[name] ?? '')

describe('Inputs', () => {
  it('accepts the YAML 1.2 boolean spellings and rejects anything else by name', () => {
    for (const t of ['true', 'True', 'TRUE'])
      expect(inputs({ b: t }).boolean('b', false)).toBe(true)
    for (const f of ['false', 'False', 'FALSE'])
      expect(inputs({ b: f }).boolean('b', true)).toBe(false)
    expect(inputs({}).boolean('b', true)).toBe(true)
    expect(() => inputs({ b: 'yes' }).boolean('b', true)).toThrow(
      "Input 'b' is 'yes': use true or false"
    )
  })

  it('rejects non-numeric durations naming the input and the value', () => {
    expect(inputs({ n: '2.5' }).number('n', 10)).toBe(2.5)
    expect(() => inputs({ n: '10m' }).number('n', 10)).toThrow(InputError)
    expect(() => inputs({ n: '10m' }).number('n', 10)).toThrow(/Input 'n' is '10m': use a number/)
    expect(() => inputs({ n: '0' }).number('n', 10, { min: 1 })).toThrow(/at least 1/)
    expect(() => inputs({ n: '1.5' }).number('n', 2, { integer: true })).toThrow(/whole number/)
  })

  it('parses KEY=VALUE lines, keeps = in values, and never echoes a value in an error', () => {
    expect(inputs({ p: 'A=1\n# note\n\nB = x=y \nA=2' }).pairs('p')).toEqual([
      ['A', '2'],
      ['B', 'x=y']
    ])
    expect(inputs({ h: 'Authorization: Bearer s3cret' }).pairs('h', ':')).toEqual([
      ['Authorization', 'Bearer s3cret']
    ])
    let message = ''
    try {
      inputs({ p: 'NOEQUALS s3cret' }).pairs('p')
    } catch (e) {
      message = (e as Error).message
    }
    expect(message).toMatch(/Input 'p'.*KEY=VALUE/)
    expect(message).not.toContain('s3cret')
  })

  it('splits lists on lines and commas', () => {
    expect(inputs({ l: 'a\n b, c\n\n#x' }).list('l')).toEqual(['a', 'b', 'c'])
  })
})

describe('clientSettings', () => {
  it('takes the region from the input, then the environment, with adaptive retries', async () => {
    const { clientSettings } = await import('../../actions/shared/aws.js')
    expect(clientSettings('eu-central-1', { AWS_REGION: 'eu-west-1' })).toMatchObject({
      region: 'eu-central-1',
      retryMode: 'adaptive'
    })
    expect(clientSettings('', { AWS_REGION: 'eu-west-1' }).region).toBe('eu-west-1')
    expect(() => clientSettings('', {})).toThrow(/No AWS region: set the 'aws-region' input/)
  })

  it("leaves retries to the caller with 'caller': one attempt, no client-side rate limiter", async () => {
    const { clientSettings } = await import('../../actions/shared/aws.js')
    expect(clientSettings('eu-west-1', {}, 'caller')).toMatchObject({
      maxAttempts: 1,
      retryMode: 'standard'
    })
  })
})
