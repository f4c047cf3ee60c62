// What agents do after payment: refund, take a return, change the address, cancel. Each asks
// for a confirmation that says what will happen before it posts the command (as the agent).
import { toMinor } from "./amounts.js";
import { api } from "./api.js";
import { definitions, h, money, replace, time, whileSubmitting } from "./dom.js";

// A client-chosen id: the same form submitted twice (a retry) records the refund once.
function newId(kind) {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  return `${kind}-${random}`;
}

// A modal dialog saying what will happen; resolves true on confirm, false on "Go back" or Escape.
export function confirmAction({ title, says, button, danger }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-says" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-says" }, says),
      h(
        "form",
        { method: "dialog", class: "confirm-buttons" },
        h("button", { type: "submit", value: "back", class: "secondary" }, "Go back"),
        h("button", { type: "submit", value: "confirm", class: danger ? "danger" : null }, button),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A form whose submission is confirmed first: ``read`` turns the fields into the command's body
// (or throws a message for the agent), ``confirmation`` says what the body will do.
export function confirmedForm({ orderId, path, method = "POST", heading, fields, button, danger, failed, read, confirmation, after }) {
  const said = h("p", { role: "status", class: "muted" });
  async function submit(event) {
    event.preventDefault();
    said.classList.remove("error");
    let body;
    try {
      body = read();
    } catch (error) {
      replace(said, error.message);
      said.classList.add("error");
      return;
    }
    if (!(await confirmAction({ ...confirmation(body), danger }))) {
      replace(said, "Nothing was changed.");
      return;
    }
    await whileSubmitting(event.target, said, failed, async () => {
      const result = await api(`/orders/${encodeURIComponent(orderId)}${path}`, { method, body });
      await after(result, said);
    });
  }
  return h(
    "form",
    { class: "action", onsubmit: submit },
    h("fieldset", {}, h("legend", {}, heading), fields, h("button", { type: "submit", class: danger ? "danger" : null }, button)),
    said,
  );
}

function counts(lines) {
  const total = new Map();
  for (const line of lines) total.set(line.sku, (total.get(line.sku) || 0) + line.quantity);
  return total;
}

export function refundable(order) {
  return (order.payment?.amount ?? 0) - (order.refunded ?? 0);
}

export function refundForm(order, after) {
  const currency = order.currency;
  const left = refundable(order);
  const refundId = newId("refund");
  const amount = h("input", { id: "refund-amount", name: "amount", required: true, inputmode: "decimal", autocomplete: "off", "aria-describedby": "refundable" });
  const reason = h("input", { id: "refund-reason", name: "reason", required: true, maxlength: 500 });
  return confirmedForm({
    orderId: order.order_id,
    path: "/refunds",
    heading: "Refund",
    fields: [
      h("p", { id: "refundable" }, "Refundable: ", h("strong", {}, money(left, currency)), ` (paid ${money(order.payment.amount, currency)}, refunded ${money(order.refunded ?? 0, currency)})`),
      h("label", { for: "refund-amount" }, `Amount to refund (${currency})`),
      amount,
      h("label", { for: "refund-reason" }, "Reason for the refund"),
      reason,
    ],
    button: "Refund…",
    failed: "Not refunded",
    read() {
      const minor = toMinor(amount.value, currency);
      if (minor <= 0) throw new Error("the amount must be more than zero");
      if (minor > left) throw new Error(`at most ${money(left, currency)} can be refunded`);
      if (!reason.value.trim()) throw new Error("say why the customer is refunded");
      return { refund_id: refundId, amount: minor, reason: reason.value.trim() };
    },
    confirmation: (body) => ({
      title: `Refund ${money(body.amount, currency)}?`,
      says: `The customer is refunded ${money(body.amount, currency)} of order ${order.order_id} (“${body.reason}”); ${money(left - body.amount, currency)} will remain refundable. This cannot be undone.`,
      button: `Refund ${money(body.amount, currency)}`,
    }),
    after,
  });
}

export function returnable(order) {
  const delivered = counts((order.shipments || []).filter((s) => s.delivered_at).flatMap((s) => s.items));
  const returned = counts((order.returns || []).flatMap((r) => r.items));
  return [...delivered].map(([sku, quantity]) => [sku, quantity - (returned.get(sku) || 0)]).filter(([, quantity]) => quantity > 0);
}

export function returnForm(order, after) {
  const returnId = newId("return");
  const lines = returnable(order).map(([sku, most], index) => ({
    sku,
    most,
    input: h("input", { id: `return-qty-${index}`, type: "number", min: 0, max: most, value: 0, inputmode: "numeric" }),
  }));
  const reason = h("input", { id: "return-reason", name: "reason", required: true, maxlength: 500 });
  return confirmedForm({
    orderId: order.order_id,
    path: "/returns",
    heading: "Return",
    fields: [
      lines.map((line, index) => [h("label", { for: `return-qty-${index}` }, `Quantity of ${line.sku} returned (at most ${line.most})`), line.input]),
      h("label", { for: "return-reason" }, "Reason for the return"),
      reason,
    ],
    button: "Record return…",
    failed: "Return not recorded",
    read() {
      const items = lines
        .map((line) => ({ sku: line.sku, quantity: Number(line.input.value), most: line.most }))
        .filter((line) => line.quantity !== 0);
      if (items.some((line) => !Number.isInteger(line.quantity) || line.quantity < 0 || line.quantity > line.most)) throw new Error("each quantity must be a whole number within what was delivered");
      if (!items.length) throw new Error("choose at least one item to return");
      if (!reason.value.trim()) throw new Error("say why the items come back");
      return { return_id: returnId, items: items.map(({ sku, quantity }) => ({ sku, quantity })), reason: reason.value.trim() };
    },
    confirmation: (body) => ({
      title: "Record this return?",
      says: `The customer sends back ${body.items.map((line) => `${line.quantity} x ${line.sku}`).join(", ")} (“${body.reason}”). The return is recorded as requested; no money moves: refund separately.`,
      button: "Record return",
    }),
    after,
  });
}

const ADDRESS_FIELDS = [
  ["name", "Name", true],
  ["line1", "Address line 1", true],
  ["line2", "Address line 2", false],
  ["postal_code", "Postal code", true],
  ["city", "City", true],
  ["country", "Country (two letters, e.g. NL)", true],
];

export function addressForm(order, after) {
  const current = order.shipping_address || {};
  const inputs = Object.fromEntries(
    ADDRESS_FIELDS.map(([name, , required]) => [name, h("input", { id: `address-${name}`, name, required, value: current[name] ?? "", maxlength: name === "country" ? 2 : 200 })]),
  );
  const oneLine = (address) => [address.name, address.line1, address.line2, `${address.postal_code} ${address.city}`, address.country].filter((part) => part && part.trim()).join(", ");
  return confirmedForm({
    orderId: order.order_id,
    path: "/shipping-address",
    method: "PUT",
    heading: "Change the shipping address",
    fields: ADDRESS_FIELDS.map(([name, label]) => [h("label", { for: `address-${name}` }, label), inputs[name]]),
    button: "Change address…",
    failed: "Address not changed",
    read() {
      const body = Object.fromEntries(ADDRESS_FIELDS.map(([name]) => [name, inputs[name].value.trim()]));
      const missing = ADDRESS_FIELDS.filter(([name, , required]) => required && !body[name]).map(([, label]) => label);
      if (missing.length) throw new Error(`fill in: ${missing.join(", ")}`);
      body.country = body.country.toUpperCase();
      return body;
    },
    confirmation: (body) => ({
      title: "Ship to the new address?",
      says: `Order ${order.order_id} will ship to ${oneLine(body)} instead of ${oneLine(current)}.`,
      button: "Change address",
    }),
    after,
  });
}

export function cancelForm(order, after) {
  const reason = h("input", { id: "cancel-reason", name: "reason", required: true, maxlength: 500 });
  const paid = order.payment?.amount ?? 0;
  return confirmedForm({
    orderId: order.order_id,
    path: "/cancel",
    heading: "Cancel the order",
    fields: [h("label", { for: "cancel-reason" }, "Reason for cancelling"), reason],
    button: "Cancel order…",
    danger: true,
    failed: "Not cancelled",
    read() {
      if (!reason.value.trim()) throw new Error("say why the order is cancelled");
      return { reason: reason.value.trim() };
    },
    confirmation: (body) => ({
      title: `Cancel order ${order.order_id}?`,
      says: `The order will not ship (“${body.reason}”).${paid ? ` It was paid ${money(paid, order.currency)}: that is owed to the customer until it is refunded.` : ""} This cannot be undone.`,
      button: "Cancel order",
    }),
    after,
  });
}

export function moneySection(order) {
  if (!order.payment) return h("p", { class: "muted" }, "Not paid.");
  return definitions([
    ["Amount", money(order.payment.amount, order.payment.currency)],
    ["Method", order.payment.method],
    ["Transaction", order.payment.transaction_id],
    ["Paid", time(order.payment.paid_at)],
    ["Financial status", order.financial_status ?? "paid"],
    ["Refunded", money(order.refunded ?? 0, order.currency)],
    order.refund_due ? ["Refund due", h("strong", {}, money(order.refund_due, order.currency))] : null,
  ].filter(Boolean));
}

function lineText(lines) {
  return (lines || []).map((line) => `${line.quantity} x ${line.sku}`).join(", ");
}

export function shipmentsSection(order) {
  const shipments = order.shipments ?? (order.shipment ? [{ ...order.shipment, shipment_id: "shipment-1", items: [] }] : []);
  if (!shipments.length) return h("p", { class: "muted" }, "Not shipped.");
  return h(
    "ul",
    { class: "shipments" },
    shipments.map((s) =>
      h("li", {}, definitions([
        ["Shipment", h("span", { class: "mono" }, s.shipment_id)],
        ["Carrier", s.carrier],
        ["Tracking number", h("span", { class: "mono" }, s.tracking_number)],
        ["Items", lineText(s.items) || "every item"],
        ["Shipped", time(s.shipped_at)],
        ["Delivered", s.delivered_at ? time(s.delivered_at) : "not yet"],
      ])),
    ),
  );
}

export function refundsAndReturns(order) {
  const refunds = order.refunds || [];
  const returns = order.returns || [];
  if (!refunds.length && !returns.length) return h("p", { class: "muted" }, "No refunds or returns.");
  return h(
    "ul",
    { class: "refunds" },
    refunds.map((r) => h("li", {}, h("strong", {}, `Refund ${money(r.amount, order.currency)}`), ` – ${r.reason} · `, time(r.refunded_at))),
    returns.map((r) => h("li", {}, h("strong", {}, `Return ${lineText(r.items)}`), ` – ${r.reason} · ${r.state} · `, time(r.received_at || r.requested_at))),
  );
}
