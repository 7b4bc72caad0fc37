/**
 * One database server for the whole test run: the `DATABASE_URL` server when set, otherwise an
 * embedded PostgreSQL in a temporary directory (fsync off: the cluster is thrown away). A
 * template database is migrated once; each test file clones it (see PgTest.ts).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import type { TestProject } from "vitest/node"
import { createDatabase, dropDatabase, urlForDatabase, withClient } from "../../src/db/AdminDatabase.ts"
import * as EmbeddedPostgres from "../../src/db/EmbeddedPostgres.ts"
import { migrate } from "../../src/db/Migrations.ts"

declare module "vitest" {
  export interface ProvidedContext {
    taskerAdminUrl: string
    taskerTemplateDb: string
  }
}

/**
 * Throwaway clusters of earlier runs that were killed before their teardown: their owner (the
 * `.owner` lock beside the cluster) is dead. Stop their server and remove the directory.
 */
const removeOrphanedClusters = () => {
  const readPid = (file: string) => (fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").split("\n")[0]) : 0)
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith("tasker-test-")) continue
    const dir = path.join(os.tmpdir(), name)
    const owner = readPid(path.join(dir, "pg.owner"))
    if (owner > 0 ? isAlive(owner) : Date.now() - fs.statSync(dir).mtimeMs < 120_000) continue
    const postmaster = readPid(path.join(dir, "pg", "postmaster.pid"))
    if (postmaster > 0 && isAlive(postmaster)) process.kill(postmaster, "SIGINT")
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export default async function setup(project: TestProject) {
  const scope = Scope.makeUnsafe()
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.provide(effect, scope))

  let adminUrl: Redacted.Redacted<string>
  if (process.env.DATABASE_URL) {
    adminUrl = Redacted.make(process.env.DATABASE_URL)
  } else {
    try {
      removeOrphanedClusters()
    } catch (error) {
      console.warn("could not remove orphaned test clusters", error)
    }
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tasker-test-"))
    fs.chmodSync(dataDir, 0o755)
    await run(Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true }))))
    const pg = await run(EmbeddedPostgres.make({
      dataDir: path.join(dataDir, "pg"),
      settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off", max_connections: "200" }
    }))
    adminUrl = pg.url
  }

  const template = `tasker_tpl_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  await run(Effect.acquireRelease(
    createDatabase(adminUrl, template),
    () => dropDatabase(adminUrl, template).pipe(Effect.ignore)
  ))
  await run(withClient(urlForDatabase(adminUrl, template), () => migrate()))

  project.provide("taskerAdminUrl", Redacted.value(adminUrl))
  project.provide("taskerTemplateDb", template)

  return async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
