// The customer view: a customer's orders and what they spent per currency (customer-orders).
import { api, ApiError } from "./api.js";
import { asOfLine } from "./freshness.js";
import { h, money, replace, statusBadge, time } from "./dom.js";

export async function customerView(main, { path }) {
  const customerId = decodeURIComponent(path.slice("/console/customers/".length));
  replace(main, h("h1", {}, `Customer ${customerId}`), h("p", { class: "muted" }, "Loading…"));
  let customer;
  try {
    customer = await api(`/customers/${encodeURIComponent(customerId)}`);
  } catch (error) {
    const text = error instanceof ApiError && error.status === 404 ? "No order of this customer is known." : `Cannot load: ${error.message}`;
    replace(main, h("h1", {}, `Customer ${customerId}`), h("p", { role: "alert" }, text));
    return;
  }
  const totals = Object.entries(customer.totals).map(([currency, t]) =>
    h("tr", {}, h("th", { scope: "row" }, currency), h("td", { class: "number" }, t.orders), h("td", { class: "number" }, money(t.spent, currency)), h("td", { class: "number" }, money(t.refunded, currency))),
  );
  const orders = customer.orders.map((o) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `/console/orders/${encodeURIComponent(o.order_id)}` }, o.order_id)),
      h("td", {}, statusBadge(o.status)),
      h("td", {}, o.financial_status),
      h("td", {}, o.fulfillment_status),
      h("td", { class: "number" }, money(o.total, o.currency)),
      h("td", {}, time(o.placed_at)),
    ),
  );
  replace(
    main,
    h("h1", {}, `Customer ${customerId}`),
    asOfLine(customer.as_of),
    h("section", {}, h("h2", {}, "Totals per currency"),
      h("table", {}, h("caption", { class: "visually-hidden" }, "Totals per currency"),
        h("thead", {}, h("tr", {}, ["Currency", "Orders", "Spent", "Refunded"].map((name, i) => h("th", { scope: "col", class: i ? "number" : null }, name)))),
        h("tbody", {}, totals))),
    h("section", {}, h("h2", {}, `Orders (${customer.orders.length})`),
      h("table", {}, h("caption", { class: "visually-hidden" }, "The customer's orders, newest first"),
        h("thead", {}, h("tr", {}, ["Order", "Status", "Payment", "Fulfilment", "Total", "Placed"].map((name) => h("th", { scope: "col", class: name === "Total" ? "number" : null }, name)))),
        h("tbody", {}, orders))),
  );
}
