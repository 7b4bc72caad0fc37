#!/usr/bin/env node
// The `tasker` command. Node >= 22.19 runs the TypeScript sources directly (type stripping).
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `error: tasker needs Node.js >= 22.19 to run its TypeScript sources; this is ${process.version}.\n` +
      "  → run it through npm, which puts the project's Node 22 first: `npx tasker …` or `npm run tasker -- …`\n"
  )
  process.exit(1)
}
await import("../src/cli/main.ts")
