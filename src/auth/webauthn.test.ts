import assert from 'node:assert/strict';
import { it } from 'node:test';
import { counterRegressed } from './webauthn';

it('a sign counter that does not move forward is a regression, unless the key keeps none', () => {
  const cases: [stored: number, received: number, regressed: boolean][] = [
    [0, 0, false], // key without a counter
    [0, 1, false],
    [5, 6, false],
    [5, 100, false],
    [5, 5, true], // the same count twice: a copy signed in between
    [5, 4, true],
    [5, 0, true], // a key that suddenly reports no counter
    [1000, 3, true],
  ];
  for (const [stored, received, regressed] of cases) assert.equal(counterRegressed(stored, received), regressed, `${stored} -> ${received}`);
});
