// The real command-line gRPC tools our users reach for (grpcurl,
// grpc_health_probe, ghz), built by .ci/prereqs.sh at the versions pinned in
// .ci/tools.env. Run asynchronously: an in-process server under test shares
// this event loop, so a synchronous child would deadlock it.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const HOW_TO_INSTALL = 'source .ci/prereqs.sh (it builds grpcurl, grpc_health_probe and ghz with go install)';

/** Runs a tool to completion; never rejects for a non-zero exit, only when it cannot start. */
export function runTool(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...options.env }, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(`${command} is not on PATH: ${HOW_TO_INSTALL}`) : error),
    );
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A tool left running (a server stream): its output so far, and its end. */
export interface RunningTool {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  done: Promise<ToolResult>;
}

export function startTool(command: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): RunningTool {
  const child = spawn(command, args, { env: { ...process.env, ...options.env }, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners: Array<() => void> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const listener of listeners.splice(0)) listener();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ToolResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
      for (const listener of listeners.splice(0)) listener();
    });
  });
  return {
    child,
    output: () => stdout,
    done,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = stdout.match(pattern);
        if (match) return match;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`${command} output never matched ${pattern} (exit ${child.exitCode}): ${stdout}\n${stderr}`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          listeners.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}

/**
 * grpcurl exits with 64 + the gRPC status code when a call fails, 0 on OK,
 * and 1 for its own errors (bad flags, unreachable server).
 */
export function grpcStatusOfGrpcurl(exitCode: number | null): number | 'tool-error' {
  if (exitCode === 0) return 0;
  if (exitCode !== null && exitCode > 64 && exitCode <= 64 + 16) return exitCode - 64;
  return 'tool-error';
}

/** grpc_health_probe's documented exit codes. */
export const HEALTH_PROBE_EXIT = {
  SERVING: 0,
  INVALID_ARGUMENTS: 1,
  CONNECTION_FAILURE: 2,
  RPC_FAILURE: 3,
  UNHEALTHY: 4,
} as const;
