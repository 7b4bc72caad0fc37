/**
 * The main job as a user runs it: `npm start`'s entry point on a fresh data directory (embedded
 * PostgreSQL), sample tasks seen complete through the API, then Ctrl-C (SIGINT) and a clean exit
 * within 10 seconds that stops the database too.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schedule } from "effect"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

const waitFor = <A>(what: string, poll: () => Promise<A | undefined>, timeoutMs: number) =>
  Effect.tryPromise(poll).pipe(
    Effect.flatMap((value) => (value === undefined ? Effect.fail(`not yet: ${what}`) : Effect.succeed(value))),
    Effect.retry(Schedule.spaced("200 millis")),
    Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode })
    else child.once("exit", (code, signal) => resolve({ code, signal }))
  })

describe("npm start", () => {
  it.live("runs the sample tasks on an embedded database and stops cleanly on SIGINT within 10 s", () =>
    Effect.gen(function*() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tasker-start-"))
      fs.chmodSync(dataDir, 0o755)
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))
      const env: Record<string, string | undefined> = { ...process.env, TASKER_DATA_DIR: dataDir, TASKER_API_PORT: "0" }
      delete env.DATABASE_URL
      let output = ""
      const child = spawn(process.execPath, ["src/main.ts"], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] })
      child.stdout.on("data", (chunk) => (output += chunk))
      child.stderr.on("data", (chunk) => (output += chunk))
      yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL")))

      const baseUrl = yield* waitFor("the API address", async () => output.match(/API\s+(http:\/\/\S+)\/v1\/tasks/)?.[1], 60_000)
      const statuses = yield* waitFor("three complete sample tasks", async () => {
        const response = await fetch(`${baseUrl}/v1/tasks?per_page=10`)
        const body = (await response.json()) as { tasks: ReadonlyArray<{ status: string; name: string }> }
        return body.tasks.length === 3 && body.tasks.every((t) => t.status === "complete") ? body.tasks : undefined
      }, 60_000)
      assert.deepStrictEqual(statuses.map((t) => t.name).sort(), ["diamond", "fanout", "order_fulfillment"])

      const started = Date.now()
      child.kill("SIGINT")
      const exit = yield* Effect.promise(() => exitOf(child)).pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error(`no exit within 10 s:\n${output}`)) })
      )
      assert.isBelow(Date.now() - started, 10_000)
      assert.isTrue(exit.code === 0 || exit.code === 130, `exit ${JSON.stringify(exit)}\n${output}`)
      // The embedded server stopped with it: no postmaster left, the ownership lock released.
      assert.isFalse(fs.existsSync(path.join(dataDir, "postgres", "postmaster.pid")), "postmaster.pid left behind")
      assert.isFalse(fs.existsSync(path.join(dataDir, "postgres.owner")), "owner lock left behind")
    }), { timeout: 120_000 })
})
