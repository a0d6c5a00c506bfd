import { InputError } from '../shared/errors.js'
import { Inputs, type InputSource } from '../shared/inputs.js'
import type { Expectations } from './judge.js'

/** Everything the gate needs, parsed and checked before the first request. */
export interface SmokeConfig {
  url: string
  headers: Array<[string, string]>
  timeoutMs: number
  intervalMs: number
  requestTimeoutMs: number
  requiredSuccesses: number
  expectations: Expectations
}

export const DEFAULTS = {
  timeoutSeconds: 300,
  intervalSeconds: 5,
  requiredSuccesses: 3,
  requestTimeoutSeconds: 10
} as const

// RFC 9110 token characters for a field name; a value is visible ASCII or Latin-1, spaces and tabs.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * The parts of the raw `headers` input that may be secret: each line's value, or the whole
 * line where it has no `:`. Masked before the input is even parsed, so no error can show one.
 */
export function headerSecrets(raw: string): string[] {
  const secrets: string[] = []
  for (const line of raw.split(/\r?\n/)) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const at = trimmed.indexOf(':')
    const value = at >= 0 ? trimmed.slice(at + 1).trim() : trimmed
    if (value !== '') secrets.push(value)
  }
  return secrets
}

/** Multiline `Name: value`; errors name the line and at most the header name, never a value. */
export function parseHeaders(raw: string): Array<[string, string]> {
  const headers: Array<[string, string]> = []
  const lines = raw.split(/\r?\n/)
  lines.forEach((line, index) => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    const at = trimmed.indexOf(':')
    const name = at > 0 ? trimmed.slice(0, at).trim() : ''
    const value = at > 0 ? trimmed.slice(at + 1).trim() : ''
    const where = `line ${index + 1}${HEADER_NAME.test(name) ? ` (${name})` : ''}, value hidden`
    if (!HEADER_NAME.test(name)) {
      throw new InputError(
        'headers',
        where,
        "write one 'Name: value' per line, e.g. 'Authorization: Bearer <token>'; a name is letters, digits and - _ . without spaces"
      )
    }
    if (!HEADER_VALUE.test(value)) {
      throw new InputError(
        'headers',
        where,
        'a header value cannot hold control characters or characters beyond Latin-1'
      )
    }
    const existing = headers.findIndex(([n]) => n.toLowerCase() === name.toLowerCase())
    if (existing >= 0) headers[existing] = [name, value]
    else headers.push([name, value])
  })
  return headers
}

export function parseUrl(value: string): string {
  const example = 'use an absolute http:// or https:// URL, e.g. https://api.example.com/health'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError('url', value, example)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(
      'url',
      value,
      `the scheme '${url.protocol.replace(/:$/, '')}' is not supported; ${example}`
    )
  }
  if (url.username !== '' || url.password !== '') {
    const shown = new URL(url.href)
    shown.username = '***'
    shown.password = ''
    throw new InputError(
      'url',
      shown.href,
      "do not put credentials in the URL; send them with the 'headers' input, e.g. 'Authorization: Bearer <token>'"
    )
  }
  return url.href
}

/** A duration in seconds, fractions allowed, never zero: a zero interval would spin. */
function seconds(inputs: Inputs, name: string, fallback: number): number {
  const ms = Math.round(inputs.number(name, fallback) * 1000)
  if (ms < 1) {
    throw new InputError(
      name,
      inputs.string(name),
      `use a number of seconds greater than 0, e.g. ${fallback}`
    )
  }
  return ms
}

/** Reads and checks every input; throws an InputError naming the first bad one. */
export function readConfig(source: InputSource): SmokeConfig {
  const inputs = new Inputs(source)
  const url = parseUrl(
    inputs.required('url', 'set it to the health endpoint, e.g. https://api.example.com/health')
  )
  const timeoutMs = seconds(inputs, 'timeout-seconds', DEFAULTS.timeoutSeconds)
  const intervalMs = seconds(inputs, 'interval-seconds', DEFAULTS.intervalSeconds)
  const requestTimeoutMs = seconds(
    inputs,
    'request-timeout-seconds',
    DEFAULTS.requestTimeoutSeconds
  )
  const requiredSuccesses = inputs.number('required-successes', DEFAULTS.requiredSuccesses, {
    min: 1,
    integer: true
  })
  const allowDegraded = inputs.boolean('allow-degraded', false)
  const expectedVersion = inputs.string('expected-version')
  const headers = parseHeaders(source('headers'))

  // The passes must fit in the gate: R passes need at least (R - 1) intervals between them.
  const shortest = (requiredSuccesses - 1) * intervalMs
  if (shortest >= timeoutMs) {
    throw new InputError(
      'timeout-seconds',
      inputs.string('timeout-seconds', String(DEFAULTS.timeoutSeconds)),
      `${requiredSuccesses} consecutive passes ${intervalMs / 1000}s apart need more than ${shortest / 1000}s; raise timeout-seconds, or lower interval-seconds or required-successes`
    )
  }

  return {
    url,
    headers,
    timeoutMs,
    intervalMs,
    requestTimeoutMs,
    requiredSuccesses,
    expectations: { allowDegraded, ...(expectedVersion !== '' ? { expectedVersion } : {}) }
  }
}
