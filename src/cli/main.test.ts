import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildProgram, COMMAND_FILES, commandFiles } from './main';

test('the command table names the file that registers each top-level command', async () => {
  const seen: Record<string, string> = {};
  for (const f of commandFiles()) {
    const program = await buildProgram(f);
    for (const c of program.commands) seen[c.name()] = f;
  }
  assert.deepEqual(seen, COMMAND_FILES);
});
