import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { InputError } from '../../actions/shared/errors.js'
import {
  DEFAULTS,
  headerSecrets,
  parseHeaders,
  parseUrl,
  readConfig
} from '../../actions/smoke-health/config.js'
import { run } from '../../actions/smoke-health/main.js'
import type { Probe } from '../../actions/smoke-health/probe.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'

const URL_INPUT = { url: 'https://api.example.com/health' }
const source = (values: Record<string, string>) => (name: string) => values[name] ?? ''

function errorOf(values: Record<string, string>): Error {
  try {
    readConfig(source(values))
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the inputs to be refused')
}

describe('smoke-health inputs', () => {
  it('applies the documented defaults', () => {
    expect(readConfig(source(URL_INPUT))).toEqual({
      url: 'https://api.example.com/health',
      headers: [],
      timeoutMs: 300_000,
      intervalMs: 5_000,
      requestTimeoutMs: 10_000,
      requiredSuccesses: 3,
      expectations: { allowDegraded: false }
    })
  })

  it('reads every input, fractions of seconds included', () => {
    const config = readConfig(
      source({
        url: 'http://127.0.0.1:8080/health',
        'expected-version': 'abc123',
        'timeout-seconds': '2.5',
        'interval-seconds': '0.1',
        'required-successes': '2',
        'request-timeout-seconds': '0.5',
        'allow-degraded': 'True',
        headers: 'Authorization: Bearer t0ken\n# a comment\nX-Smoke-Test: yes: really'
      })
    )
    expect(config).toEqual({
      url: 'http://127.0.0.1:8080/health',
      headers: [
        ['Authorization', 'Bearer t0ken'],
        ['X-Smoke-Test', 'yes: really']
      ],
      timeoutMs: 2500,
      intervalMs: 100,
      requestTimeoutMs: 500,
      requiredSuccesses: 2,
      expectations: { allowDegraded: true, expectedVersion: 'abc123' }
    })
  })

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['a missing url', { url: '' }, /^Input 'url' is empty: set it to the health endpoint/],
    [
      'a malformed url',
      { url: 'api.example.com/health' },
      /^Input 'url' is 'api.example.com\/health': use an absolute http/
    ],
    [
      'a non-http scheme',
      { url: 'ftp://api.example.com/health' },
      /^Input 'url' is 'ftp:.*the scheme 'ftp' is not supported/
    ],
    [
      'a non-numeric timeout',
      { 'timeout-seconds': '5m' },
      /^Input 'timeout-seconds' is '5m': use a number/
    ],
    [
      'a zero timeout',
      { 'timeout-seconds': '0' },
      /^Input 'timeout-seconds' is '0': use a number of seconds greater than 0/
    ],
    [
      'a negative interval',
      { 'interval-seconds': '-1' },
      /^Input 'interval-seconds' is '-1': use a number/
    ],
    [
      'a zero interval',
      { 'interval-seconds': '0' },
      /^Input 'interval-seconds' is '0': .*greater than 0/
    ],
    [
      'a non-numeric request timeout',
      { 'request-timeout-seconds': 'ten' },
      /^Input 'request-timeout-seconds' is 'ten'/
    ],
    [
      'required-successes of 0',
      { 'required-successes': '0' },
      /^Input 'required-successes' is '0': use a number of at least 1/
    ],
    [
      'fractional required-successes',
      { 'required-successes': '1.5' },
      /^Input 'required-successes' is '1.5': use a whole number/
    ],
    [
      'a non-boolean allow-degraded',
      { 'allow-degraded': 'yes' },
      /^Input 'allow-degraded' is 'yes': use true or false/
    ],
    [
      'a header without a colon',
      { headers: 'Authorization Bearer s3cret' },
      /^Input 'headers' is 'line 1, content hidden': write one 'Name: value' per line/
    ],
    [
      'a header name with a space',
      { headers: 'X-Ok: 1\nX Api Key: s3cret' },
      /^Input 'headers' is 'line 2, content hidden'/
    ],
    [
      'a header without a name',
      { headers: ': s3cret' },
      /^Input 'headers' is 'line 1, content hidden'/
    ],
    [
      'a control character in a value',
      { headers: 'X-Key: s3\u0001cret' },
      /^Input 'headers' is 'line 1, content hidden': a header value cannot hold control/
    ],
    [
      'a timeout too short for the passes',
      { 'timeout-seconds': '10', 'interval-seconds': '5', 'required-successes': '3' },
      /^Input 'timeout-seconds' is '10': 3 consecutive passes 5s apart need more than 10s/
    ]
  ]

  it.each(refused)('refuses %s, naming the input', (_name, values, message) => {
    const error = errorOf({ ...URL_INPUT, ...values })
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain('s3cret')
    expect(error.message).not.toContain('s3\u0001cret')
    // A bad line is pointed at by its number; not even a well-formed header name is shown.
    expect(error.message).not.toMatch(/X-Key|X Api Key/)
  })

  it('refuses credentials in the URL without echoing the password', () => {
    const error = errorOf({ url: 'https://deploy:hunter2@api.example.com/health' })
    expect(error.message).toMatch(
      /^Input 'url' is 'https:\/\/\*\*\*@api.example.com\/health': do not put credentials in the URL/
    )
    expect(error.message).not.toContain('hunter2')
  })

  it('finds every value that could be secret, even on a malformed line', () => {
    expect(
      headerSecrets('Authorization: Bearer a1\n\n# note\nX-Key:b:c\nnocolon-secret\nX-Empty:')
    ).toEqual(['Bearer a1', 'a1', 'b:c', 'nocolon-secret'])
  })

  it('masks the credentials after an auth scheme on their own, for Authorization-style headers only', () => {
    expect(
      headerSecrets(
        [
          'Authorization: Basic ZGVwbG95Omh1bnRlcjI=',
          'proxy-authorization: Digest username="deploy", response="6629fae4"',
          'X-Authorization:   Token   tk_9f2a  ',
          'Authorization: opaque-token-without-scheme',
          'X-Smoke: deploy 42'
        ].join('\n')
      )
    ).toEqual([
      'Basic ZGVwbG95Omh1bnRlcjI=',
      'ZGVwbG95Omh1bnRlcjI=',
      'Digest username="deploy", response="6629fae4"',
      'username="deploy", response="6629fae4"',
      'Token   tk_9f2a',
      'tk_9f2a',
      'opaque-token-without-scheme',
      // Not a credential: masking '42' alone would blank every 42 in the log.
      'deploy 42'
    ])
  })

  it('shows a URL it refuses with its query values masked', () => {
    const scheme = errorOf({ url: 'ftp://files.example.com/health?token=s3cret' })
    expect(scheme.message).toMatch(
      /^Input 'url' is 'ftp:\/\/files\.example\.com\/health\?token=\*\*\*': the scheme 'ftp'/
    )
    const unparsable = errorOf({ url: 'api.example.com/health?token=s3cret' })
    expect(unparsable.message).toMatch(/^Input 'url' is 'api\.example\.com\/health\?\*\*\*'/)
    const credentials = errorOf({ url: 'https://deploy:hunter2@api.example.com/h?sig=s3cret' })
    expect(credentials.message).toMatch(
      /^Input 'url' is 'https:\/\/\*\*\*@api\.example\.com\/h\?sig=\*\*\*'/
    )
    for (const error of [scheme, unparsable, credentials])
      expect(error.message).not.toContain('s3cret')
  })

  it('finds the value of a line that starts with its colon, and reads Windows line endings', () => {
    expect(headerSecrets(': s3cret\r\n  # X-Note: skipped\r\nX-Key: k3y\r\n')).toEqual([
      's3cret',
      'k3y'
    ])
  })

  it('masks a line without a colon whole, once, even when it reads like an Authorization header', () => {
    expect(headerSecrets('Authorization Bearer t0ken')).toEqual(['Authorization Bearer t0ken'])
  })

  it('looks for an Authorization-style scheme in the header name only, and only at the start of the value', () => {
    expect(headerSecrets('X-Note: authorization pending')).toEqual(['authorization pending'])
    expect(headerSecrets('Authorization: @ token abc')).toEqual(['@ token abc'])
  })

  it('skips indented comments and blank lines, and trims around the colon', () => {
    expect(parseHeaders('  # note\n   \nX-Key : v')).toEqual([['X-Key', 'v']])
  })

  it('refuses a line without a colon even when it looks like a header name', () => {
    expect(() => parseHeaders('X-Ok: 1\nX-Token')).toThrow(
      /^Input 'headers' is 'line 2, content hidden': write one 'Name: value' per line/
    )
  })

  it('accepts every token character in a header name, and an empty value', () => {
    const name = "X-a.b_c!#$%&'*+^`|~09"
    expect(parseHeaders(`${name}: v\r\nX-Empty:\r\n`)).toEqual([
      [name, 'v'],
      ['X-Empty', '']
    ])
  })

  it.each(['X(Key)', 'X@Key', 'X/Key', 'X"Key', 'Ключ'])(
    'refuses the header name %s, which is not a token',
    name => {
      expect(() => parseHeaders(`X-Ok: 1\n${name}: v`)).toThrow(
        /^Input 'headers' is 'line 2, content hidden': write one 'Name: value' per line/
      )
    }
  )

  it('accepts tabs, spaces, visible ASCII and Latin-1 in a value', () => {
    const value = 'a\tb ~!\x80caf\xe9\xff'
    expect(parseHeaders(`X-Key: ${value}`)).toEqual([['X-Key', value]])
  })

  it.each([
    ['a unit separator', '\x1f'],
    ['a delete', '\x7f'],
    ['a character beyond Latin-1', '\u20ac'],
    ['a carriage return', '\r']
  ])('refuses a value holding %s, by its line', (_name, character) => {
    expect(() => parseHeaders(`X-Key: a${character}b`)).toThrow(
      "Input 'headers' is 'line 1, content hidden': a header value cannot hold control characters or characters beyond Latin-1"
    )
  })

  it('accepts http and https URLs as written, normalised', () => {
    expect(parseUrl('https://API.example.com')).toBe('https://api.example.com/')
    expect(parseUrl('http://127.0.0.1:8080/health?x=1')).toBe('http://127.0.0.1:8080/health?x=1')
  })

  it('refuses a URL with a user name only, or a password only', () => {
    expect(() => parseUrl('https://deploy@api.example.com/health')).toThrow(
      /do not put credentials in the URL/
    )
    expect(() => parseUrl('https://:hunter2@api.example.com/health')).toThrow(
      /do not put credentials in the URL/
    )
  })

  it('accepts a duration of one millisecond, and refuses one that rounds to none', () => {
    expect(readConfig(source({ ...URL_INPUT, 'interval-seconds': '0.001' })).intervalMs).toBe(1)
    expect(errorOf({ ...URL_INPUT, 'interval-seconds': '0.0004' }).message).toBe(
      "Input 'interval-seconds' is '0.0004': use a number of seconds greater than 0, e.g. 5"
    )
  })

  it('accepts a timeout just longer than the passes need', () => {
    const config = readConfig(
      source({
        ...URL_INPUT,
        'timeout-seconds': '10.5',
        'interval-seconds': '5',
        'required-successes': '3'
      })
    )
    expect(config).toMatchObject({ timeoutMs: 10_500, intervalMs: 5_000, requiredSuccesses: 3 })
  })

  it('accepts one required pass whatever the interval', () => {
    const config = readConfig(
      source({
        ...URL_INPUT,
        'timeout-seconds': '1',
        'interval-seconds': '60',
        'required-successes': '1'
      })
    )
    expect(config).toMatchObject({ timeoutMs: 1_000, intervalMs: 60_000, requiredSuccesses: 1 })
  })

  it('names the default timeout when the passes do not fit in it', () => {
    expect(
      errorOf({ ...URL_INPUT, 'interval-seconds': '100', 'required-successes': '4' }).message
    ).toBe(
      "Input 'timeout-seconds' is '300': 4 consecutive passes 100s apart need more than 300s; raise timeout-seconds, or lower interval-seconds or required-successes"
    )
  })

  it('keeps the last of repeated header names, whatever their case', () => {
    expect(parseHeaders('X-Key: one\nx-key: two')).toEqual([['x-key', 'two']])
  })

  it.each(refused)('fails on %s before any request or log line', async (_name, values) => {
    const runner = new RecordingRunner()
    let requests = 0
    const probe: Probe = async () => {
      requests++
      throw new Error('no request expected')
    }
    await expect(
      run(runner, { input: source({ ...URL_INPUT, ...values }), clock: new FakeClock(), probe })
    ).rejects.toThrow(InputError)
    expect(requests).toBe(0)
    expect(runner.lines).toEqual([])
    expect(runner.outputs).toEqual({})
  })
})

describe('smoke-health action.yml', () => {
  const action = parse(readFileSync('actions/smoke-health/action.yml', 'utf8')) as {
    inputs: Record<string, { description: string; required?: boolean; default?: string }>
    outputs: Record<string, { description: string }>
    runs: { using: string; main: string }
    branding: { icon: string; color: string }
  }

  it('declares the documented inputs with the defaults the code applies', () => {
    expect(Object.keys(action.inputs)).toEqual([
      'url',
      'expected-version',
      'timeout-seconds',
      'interval-seconds',
      'required-successes',
      'request-timeout-seconds',
      'allow-degraded',
      'headers'
    ])
    expect(action.inputs.url!.required).toBe(true)
    expect(
      Object.fromEntries(
        Object.entries(action.inputs).map(([name, input]) => [name, input.default])
      )
    ).toEqual({
      url: undefined,
      'expected-version': '',
      'timeout-seconds': String(DEFAULTS.timeoutSeconds),
      'interval-seconds': String(DEFAULTS.intervalSeconds),
      'required-successes': String(DEFAULTS.requiredSuccesses),
      'request-timeout-seconds': String(DEFAULTS.requestTimeoutSeconds),
      'allow-degraded': 'false',
      headers: ''
    })
    for (const input of Object.values(action.inputs))
      expect(input.description.length).toBeGreaterThan(20)
  })

  it('declares the documented outputs, runs on node24 from the bundle, and has branding', () => {
    expect(Object.keys(action.outputs)).toEqual([
      'status',
      'version',
      'attempts',
      'response-time-ms'
    ])
    for (const output of Object.values(action.outputs))
      expect(output.description.length).toBeGreaterThan(10)
    expect(action.runs).toEqual({ using: 'node24', main: '../../dist/smoke-health/index.js' })
    expect(action.branding.icon).not.toBe('')
    expect(action.branding.color).not.toBe('')
  })
})
