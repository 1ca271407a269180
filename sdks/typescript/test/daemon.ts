// The real `tether` binary on a temporary data directory. The binary is $TETHER_BIN, else
// the workspace's target/debug/tether (scripts/test builds it).

import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file runs from sdks/typescript/dist/test). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

export function binary(): string {
  const path = process.env.TETHER_BIN ?? join(REPO, "target", "debug", "tether");
  if (!existsSync(path)) throw new Error(`no tether binary at ${path}: run \`cargo build\` or set TETHER_BIN`);
  return path;
}

export class Daemon {
  readonly root: string;
  readonly dataDir: string;
  url = "";
  private child: ChildProcess | undefined;

  private constructor(private readonly extra: string[]) {
    this.root = mkdtempSync(join(tmpdir(), "tether-ts-"));
    chmodSync(this.root, 0o700);
    this.dataDir = join(this.root, "data");
  }

  /** Starts a daemon; `config` is the TOML of its config file. */
  static async start(config = "[runs]\nwait_slack_ms = 100\n"): Promise<Daemon> {
    const daemon = new Daemon([]);
    writeFileSync(join(daemon.root, "tether.toml"), config);
    daemon.extra.push("--config", join(daemon.root, "tether.toml"));
    await daemon.spawn(0);
    return daemon;
  }

  /** Starts the process (again), on `port` (0: any free one); resolves on its readiness line. */
  async spawn(port: number): Promise<void> {
    const log = openSync(join(this.root, "daemon.log"), "a");
    const args = ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", this.dataDir, ...this.extra];
    const child = spawn(binary(), args, { stdio: ["ignore", "pipe", log] });
    this.child = child;
    const stdout = child.stdout;
    if (!stdout) throw new Error("no stdout pipe");
    const line = await new Promise<string>((resolve, reject) => {
      let buffered = "";
      stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const end = buffered.indexOf("\n");
        if (end >= 0) resolve(buffered.slice(0, end));
      });
      child.on("exit", (code) => reject(new Error(`tether exited ${code}: ${this.log()}`)));
    });
    const prefix = "tether listening on ";
    if (!line.startsWith(prefix)) throw new Error(`no readiness line (${line}): ${this.log()}`);
    this.url = line.slice(prefix.length).trim();
  }

  get port(): number {
    return Number(this.url.split(":").pop());
  }

  get socket(): string {
    return join(this.dataDir, "tether.sock");
  }

  get token(): string {
    return readFileSync(join(this.dataDir, "auth-token"), "utf8").trim();
  }

  log(): string {
    return existsSync(join(this.root, "daemon.log")) ? readFileSync(join(this.root, "daemon.log"), "utf8") : "";
  }

  /** SIGKILL, and wait for the process to be gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await gone;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

let counter = 0;
/** An agent id of its own for each test. */
export function agent(): string {
  counter += 1;
  return `ts-${process.pid}-${counter}`;
}

/** Polls `condition` until true, failing after `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met before the deadline");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
