import { parseDockerLogs } from '../../tools/ecs-standin/docker-runtime.js'

describe('parseDockerLogs', () => {
  it('reads `docker logs --timestamps` lines in time order to the nanosecond, stdout and stderr merged', () => {
    // stdout then stderr, as `docker logs` gives them apart; the stderr line came first.
    const stdout = '2026-11-29T17:41:00.123456789Z second\n2026-11-29T17:41:01Z third'
    const stderr = '2026-11-29T17:41:00.1234Z first\nnot a log line'
    expect(parseDockerLogs(`${stdout}\n${stderr}`)).toEqual([
      { timestamp: Date.parse('2026-11-29T17:41:00.123Z'), message: 'first' },
      { timestamp: Date.parse('2026-11-29T17:41:00.123Z'), message: 'second' },
      { timestamp: Date.parse('2026-11-29T17:41:01Z'), message: 'third' }
    ])
  })
})
