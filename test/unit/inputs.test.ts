import { environmentInputs, Inputs, splitLines } from '../../actions/shared/inputs.js'
import { InputError } from '../../actions/shared/errors.js'
import { redactUrl } from '../../actions/shared/redact.js'

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
  })

  it.each([
    ['a line without a separator', 'A=1\n\nNOEQUALS s3cret', 3],
    ['a secret alone on a line', 'A=1\ns3cret', 2],
    ['a key with a space', 'A=1\nMY s3cret=x', 2],
    ['a line that starts with the separator', '=s3cret', 1]
  ])('reports %s by its line number only, never its content', (_, value, line) => {
    let error: unknown
    try {
      inputs({ p: value }).pairs('p')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toBe(
      `Input 'p' is 'line ${line}, content hidden': write one KEY=VALUE per line`
    )
  })

  it('reports a bad Name: value line by its number the same way', () => {
    expect(() => inputs({ h: 'X-Ok: 1\nBearer s3cret' }).pairs('h', ':')).toThrow(
      "Input 'h' is 'line 2, content hidden': write one Name: value per line"
    )
  })

  it('splits lists on lines and commas', () => {
    expect(inputs({ l: 'a\n b, c\n\n#x' }).list('l')).toEqual(['a', 'b', 'c'])
  })
})

describe('environmentInputs', () => {
  it('reads INPUT_<NAME> upper-cased, dashes kept and spaces as underscores, trimmed', () => {
    const read = environmentInputs({
      'INPUT_IMAGE-SCAN-SEVERITY': '  high \n',
      INPUT_MY_SETTING: 'on'
    })
    expect(read('image-scan-severity')).toBe('high')
    expect(read('my setting')).toBe('on')
    expect(read('missing')).toBe('')
  })
})

describe('Inputs.string and Inputs.required', () => {
  it('trims a value and falls back only when it is empty', () => {
    expect(inputs({ s: '  v  ' }).string('s', 'default')).toBe('v')
    expect(inputs({ s: '   ' }).string('s', 'default')).toBe('default')
    expect(inputs({}).string('s')).toBe('')
  })

  it('returns a required value, and refuses an empty one naming the input and the fix', () => {
    expect(inputs({ cluster: ' payments ' }).required('cluster', 'set it')).toBe('payments')
    expect(() => inputs({ cluster: ' ' }).required('cluster', 'set it to the ECS cluster')).toThrow(
      "Input 'cluster' is empty: set it to the ECS cluster"
    )
  })

  it('takes an empty boolean as the fallback, either way', () => {
    expect(inputs({ b: ' ' }).boolean('b', false)).toBe(false)
    expect(inputs({}).boolean('b', true)).toBe(true)
  })
})

describe('Inputs.number', () => {
  it('reads whole numbers and decimals, and the fallback when empty', () => {
    expect(inputs({ n: '12' }).number('n', 1)).toBe(12)
    expect(inputs({ n: '10.25' }).number('n', 1)).toBe(10.25)
    expect(inputs({ n: '0' }).number('n', 1)).toBe(0)
    expect(inputs({}).number('n', 7)).toBe(7)
  })

  it.each(['+1', '-1', '1e3', '0x10', '.5', '5.', '1.2.3', 'five', '1 2'])(
    'refuses %s: only plain digits with an optional decimal part',
    value => {
      expect(() => inputs({ n: value }).number('n', 10)).toThrow(
        `Input 'n' is '${value}': use a number, e.g. 10`
      )
    }
  )

  it('refuses a number too large to be finite', () => {
    const huge = '9'.repeat(400)
    expect(() => inputs({ n: huge }).number('n', 10)).toThrow(/use a number, e.g. 10$/)
  })

  it('accepts the minimum itself, and names it when refusing less', () => {
    expect(inputs({ n: '1' }).number('n', 3, { min: 1 })).toBe(1)
    expect(() => inputs({ n: '0.5' }).number('n', 3, { min: 1 })).toThrow(
      "Input 'n' is '0.5': use a number of at least 1, e.g. 3"
    )
  })

  it('accepts fractions unless a whole number is asked for, and names the fallback then', () => {
    expect(inputs({ n: '1.5' }).number('n', 2)).toBe(1.5)
    expect(inputs({ n: '4' }).number('n', 2, { integer: true })).toBe(4)
    expect(() => inputs({ n: '1.5' }).number('n', 2, { integer: true })).toThrow(
      "Input 'n' is '1.5': use a whole number, e.g. 2"
    )
  })

  it('reads an optional number as undefined when empty, with the same checks otherwise', () => {
    expect(inputs({}).optionalNumber('n')).toBeUndefined()
    expect(inputs({ n: ' ' }).optionalNumber('n')).toBeUndefined()
    expect(inputs({ n: '3' }).optionalNumber('n', { min: 1, integer: true })).toBe(3)
    expect(() => inputs({ n: '0' }).optionalNumber('n', { min: 1 })).toThrow(/at least 1/)
    expect(() => inputs({ n: '2.5' }).optionalNumber('n', { integer: true })).toThrow(
      /whole number/
    )
  })
})

describe('Inputs.pairs', () => {
  it('reads Windows line endings and comment lines with leading spaces', () => {
    expect(inputs({ p: 'A=1\r\n  # B=2\r\nC = 3\r\n' }).pairs('p')).toEqual([
      ['A', '1'],
      ['C', '3']
    ])
  })

  it('refuses a line with no separator at all, by its number', () => {
    expect(() => inputs({ p: 'A=1\nNOSEPARATOR' }).pairs('p')).toThrow(
      "Input 'p' is 'line 2, content hidden': write one KEY=VALUE per line"
    )
  })

  it('keeps an empty value', () => {
    expect(inputs({ p: 'EMPTY=' }).pairs('p')).toEqual([['EMPTY', '']])
  })
})

describe('splitLines', () => {
  it('splits on Windows line endings and commas, dropping blanks and comments', () => {
    expect(splitLines('a\r\nb,,c\r\n  # d\r\n\r\ne ')).toEqual(['a', 'b', 'c', 'e'])
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

describe('redactUrl', () => {
  it.each([
    ['https://api.example.com/health', 'https://api.example.com/health'],
    ['https://api.example.com/health?token=s3cret', 'https://api.example.com/health?token=***'],
    [
      'https://a.example/h?sig=s3cret&x=1&empty=&s3cret',
      'https://a.example/h?sig=***&x=***&empty=&***'
    ],
    ['https://a.example/h?sig=a%20b==#s3cret', 'https://a.example/h?sig=***#***'],
    ['https://deploy:s3cret@a.example/h', 'https://***@a.example/h'],
    ['not a url?token=s3cret', 'not a url?***']
  ])('shows %s as %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown)
  })
})
