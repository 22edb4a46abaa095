// Starts each cluster component as the leader of its own process group, so that stopping
// it also stops anything it forked, and so that a later `cluster-down` from another
// process can find and stop it by pid alone.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
}

export interface StartedProcess extends ManagedProcess {
  child: ChildProcess;
  /** Set once the process has exited, with the exit code or signal. */
  exited: () => string | undefined;
}

export function startProcessGroup(
  name: string,
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): StartedProcess {
  const log = openSync(options.logFile, "a");
  const child = spawn(command, args, {
    detached: true,
    stdio: ["ignore", log, log],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  closeSync(log);
  let exit: string | undefined;
  child.on("exit", (code, signal) => {
    exit = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.on("error", (err) => {
    exit = `could not start: ${err.message}`;
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  return { name, pid: child.pid, logFile: options.logFile, child, exited: () => exit };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGTERM to the whole group, then SIGKILL whatever is left after the grace period. */
export async function stopProcessGroup(pid: number, graceMs = 5000): Promise<void> {
  if (!groupAlive(pid)) return;
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pid)) return;
    await sleep(50);
  }
  signalGroup(pid, "SIGKILL");
  const killDeadline = Date.now() + 5000;
  while (groupAlive(pid) && Date.now() < killDeadline) await sleep(50);
}

/** The last lines of a component's log, for error messages. */
export function logTail(logFile: string, lines = 15): string {
  if (!existsSync(logFile)) return "(no log)";
  const text = readFileSync(logFile, "utf8").trimEnd().split("\n");
  // Some components log enormous lines (kwok dumps whole templates): keep each one readable.
  return text
    .slice(-lines)
    .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line))
    .join("\n");
}
