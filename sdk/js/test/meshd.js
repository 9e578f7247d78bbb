// Starts a real meshd for the tests, the way sdk/python/tests/test_client.py does: alone
// (--no-mesh), interpreter engine, a free port, a temporary data dir, the token read from it.
// Paths come from the environment as ctest sets them (tests/integration/CMakeLists.txt):
// MESH_MESHD (the binary) and MESH_EXAMPLES (the example .wasm directory). Without them the
// tests fail at once, saying what to set.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export function examplePath(name) {
  const dir = process.env.MESH_EXAMPLES;
  if (!dir) throw new Error('set MESH_EXAMPLES (the example .wasm directory); `ctest -R js_sdk` sets it');
  return join(dir, `${name}.wasm`);
}

export function example(name) {
  return new Uint8Array(readFileSync(examplePath(name)));
}

/** Resolves to {url, token, dataDir, stop()} once meshd printed "meshd ready at URL". */
export async function startMeshd() {
  const binary = process.env.MESH_MESHD;
  if (!binary) throw new Error('set MESH_MESHD (the meshd binary); `ctest -R js_sdk` sets it');
  const tmp = mkdtempSync(join(tmpdir(), 'mesh_js_sdk.'));
  const dataDir = join(tmp, 'data');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MESH_')));
  const child = spawn(binary, ['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--no-mesh',
    '--engine', 'interp', '--max-concurrent', '2', '--log-level', 'warn'],
  { env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('meshd was not ready within 60 s')), 60_000);
    child.on('exit', (code) => reject(new Error(`meshd exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('meshd ready at ')) {
        clearTimeout(timer);
        resolve(line.split(' ')[3]);
      }
    });
  });
  const token = readFileSync(join(dataDir, 'api.token'), 'utf8').trim();
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  return { url, token, dataDir, stop };
}
