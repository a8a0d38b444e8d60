// Runs every *.test.ts under src/ and test/ with node's test runner (Node 20's --test has no glob support).
// Extra arguments narrow the run to files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = ['src', 'test']
  .flatMap(find)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// A test that fails before closing its servers, or hangs, is reported instead of holding the run open:
// the runner exits once every test has ended, and a test running past 5 minutes fails.
const runner = ['--test', '--test-concurrency=1', '--test-force-exit', '--test-timeout=300000'];
const result = spawnSync(process.execPath, ['--import', 'tsx', ...runner, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
