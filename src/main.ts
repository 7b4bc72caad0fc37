/**
 * `npm start`: the whole system in one process (src/demo/Demo.ts), the same as `tasker demo`.
 * Ctrl-C closes every layer in order, database last.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { MainLive } from "./demo/Demo.ts"

NodeRuntime.runMain(Layer.launch(MainLive))
