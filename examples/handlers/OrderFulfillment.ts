/**
 * Handlers of `examples/templates/order_fulfillment.yaml` (namespace `ecommerce`): validate an
 * order, reserve its stock, charge the customer, ship. Effect and async handlers side by side,
 * with schemas for the task context (`input`), the step configuration (`config`) and the output.
 * Identifiers are derived from the order id, so a retried step returns the same result.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { PermanentError } from "../../src/worker/ErrorClassification.ts"
import { StepHandler } from "../../src/worker/StepHandler.ts"

const LineItem = Schema.Struct({
  sku: Schema.String,
  quantity: Schema.Int.check(Schema.isGreaterThan(0)),
  price: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
})

/** The task context of an order. @category schemas @since 0.1.0 */
export const Order = Schema.Struct({
  order_id: Schema.String,
  customer_id: Schema.String,
  items: Schema.Array(LineItem)
})

/** Output of `validate_order`. @category schemas @since 0.1.0 */
export const ValidatedOrder = Schema.Struct({
  order_id: Schema.String,
  customer_id: Schema.String,
  item_count: Schema.Int,
  total: Schema.Finite,
  validated: Schema.Boolean
})

const Reservation = Schema.Struct({ reservation_id: Schema.String, warehouse: Schema.String, skus: Schema.Array(Schema.String) })
const Payment = Schema.Struct({ payment_id: Schema.String, amount: Schema.Finite, gateway: Schema.String })

/** Orders above this amount are refused (a permanent failure). */
const paymentLimit = 10_000

const cents = (n: number) => Math.round(n * 100) / 100

/** `ecommerce.ValidateOrder` (Effect): totals the items; an empty order fails permanently. */
export const ValidateOrder = StepHandler.effect(
  (ctx) =>
    Effect.gen(function*() {
      const { customer_id, items, order_id } = ctx.input
      if (items.length === 0) {
        return yield* new PermanentError({ message: `order ${order_id} has no items`, errorCode: "empty_order" })
      }
      const total = cents(items.reduce((sum, item) => sum + item.quantity * item.price, 0))
      return { order_id, customer_id, item_count: items.length, total, validated: true }
    }),
  { input: Order, output: ValidatedOrder, version: "1.0.0" }
)

/** `ecommerce.ReserveInventory` (Effect): reserves every SKU in the configured warehouse. */
export const ReserveInventory = StepHandler.effect(
  (ctx) =>
    Effect.gen(function*() {
      const order = yield* StepHandler.dependency(ctx, "validate_order", ValidatedOrder)
      yield* Effect.logDebug(`reserving ${order.item_count} item(s) in ${ctx.config.warehouse}`)
      return {
        reservation_id: `res_${order.order_id}`,
        warehouse: ctx.config.warehouse,
        skus: ctx.input.items.map((item) => item.sku)
      }
    }),
  { input: Order, config: Schema.Struct({ warehouse: Schema.String }), output: Reservation }
)

/** `ecommerce.ChargePayment` (async): charges the order total through the configured gateway. */
export const ChargePayment = StepHandler.promise(
  async (ctx) => {
    const order = StepHandler.dependencySync(ctx, "validate_order", ValidatedOrder)
    if (order.total > paymentLimit) {
      throw new PermanentError({ message: `amount ${order.total} exceeds the limit`, errorCode: "amount_limit" })
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
    return { payment_id: `pay_${order.order_id}`, amount: order.total, gateway: ctx.config.gateway }
  },
  { config: Schema.Struct({ gateway: Schema.String }), output: Payment }
)

/** `ecommerce.ShipOrder` (Effect): ships from the reservation's warehouse once paid. */
export const ShipOrder = StepHandler.effect((ctx) =>
  Effect.gen(function*() {
    const reservation = yield* StepHandler.dependency(ctx, "reserve_inventory", Reservation)
    const payment = yield* StepHandler.dependency(ctx, "charge_payment", Payment)
    return {
      shipment_id: `shp_${payment.payment_id.slice(4)}`,
      warehouse: reservation.warehouse,
      tracking_number: `TRK-${reservation.reservation_id.slice(4).toUpperCase()}`,
      paid: payment.amount
    }
  })
)

/** @category registries @since 0.1.0 */
export const orderFulfillmentHandlers = HandlerRegistry.make({
  "ecommerce.ValidateOrder": ValidateOrder,
  "ecommerce.ReserveInventory": ReserveInventory,
  "ecommerce.ChargePayment": ChargePayment,
  "ecommerce.ShipOrder": ShipOrder
})
