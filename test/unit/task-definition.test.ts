import { jsonErrorPosition } from '../../actions/ecs-deploy/task-definition.js'

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
    ['{\n  "a": 1,\n}', 'at line 3, column 1'],
    ['{"a": 1} x', 'at line 1, column 10'],
    ['{\n  "a": "b\n', 'at line 2, column'],
    ['{"a": tru }', "unexpected ' ' at line 1, column 10"]
  ])('%j → %s', (text, expected) => {
    expect(positionOf(text)).toContain(expected)
  })
})
